package build

import (
	"context"
	"strings"

	"github.com/berthd/berth/pkg/errdefs"
)

// commit records a config-only step, as dockerd's commit with a
// "#(nop) " command.
func (b *Builder) commit(ctx context.Context, st *state, comment string) error {
	return b.commitStep(ctx, st, append(st.shell(), "#(nop) ", comment), nil)
}

// commitFiles records a step that writes files (WORKDIR, COPY, ADD). Its
// "#(nop) " and comment are one word of the command, where commit's are
// two: the history text differs by a space, as dockerd's does.
func (b *Builder) commitFiles(ctx context.Context, st *state, comment string, fill func(root string) error) error {
	return b.commitStep(ctx, st, append(st.shell(), "#(nop) "+comment), fill)
}

// commitStep makes the step's image, whose history says cmd, unless the
// cache has it; fill writes its layer (nil: a config-only step).
func (b *Builder) commitStep(ctx context.Context, st *state, cmd []string, fill func(root string) error) error {
	if !st.hasFrom {
		return errdefs.InvalidParameterf("Please provide a source image with `from` prior to commit")
	}
	probeCfg := cloneConfig(st.cfg)
	probeCfg.Cmd = cmd
	key, hit := b.probe(ctx, st, &probeCfg)
	if hit {
		return nil
	}
	return b.save(ctx, st, key, CommitOptions{Fill: fill, CreatedBy: strings.Join(probeCfg.Cmd, " ")})
}

// save commits the step's image, on the stage's image and with its config,
// author and platform, and remembers it under the step's cache key.
func (b *Builder) save(ctx context.Context, st *state, key string, o CommitOptions) error {
	o.Parent, o.Config, o.Author, o.Platform = st.imageID, cloneConfig(st.cfg), st.maintainer, st.platform
	id, err := b.backend.Commit(ctx, o)
	if err != nil {
		return err
	}
	st.imageID = id
	b.remember(key, id)
	return nil
}
