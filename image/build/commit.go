package build

import (
	"context"
	"strings"

	"github.com/berthd/berth/pkg/errdefs"
)

// commit records a config-only step, as dockerd's commit with a
// "#(nop) " command.
func (b *Builder) commit(ctx context.Context, st *state, comment string) error {
	if !st.hasFrom {
		return errdefs.InvalidParameterf("Please provide a source image with `from` prior to commit")
	}
	probeCfg := cloneConfig(st.cfg)
	probeCfg.Cmd = append(st.shell(), "#(nop) ", comment)
	key, hit := b.probe(ctx, st, &probeCfg)
	if hit {
		return nil
	}
	id, err := b.backend.Commit(ctx, CommitOptions{
		Parent: st.imageID, Config: cloneConfig(st.cfg), CreatedBy: strings.Join(probeCfg.Cmd, " "),
		Author: st.maintainer, Platform: st.platform,
	})
	if err != nil {
		return err
	}
	st.imageID = id
	b.remember(key, id)
	return nil
}

// commitFiles records a step that writes files (WORKDIR, COPY, ADD).
func (b *Builder) commitFiles(ctx context.Context, st *state, comment string, fill func(root string) error) error {
	if !st.hasFrom {
		return errdefs.InvalidParameterf("Please provide a source image with `from` prior to commit")
	}
	probeCfg := cloneConfig(st.cfg)
	probeCfg.Cmd = append(st.shell(), "#(nop) "+comment)
	key, hit := b.probe(ctx, st, &probeCfg)
	if hit {
		return nil
	}
	id, err := b.backend.Commit(ctx, CommitOptions{
		Fill: fill, Parent: st.imageID, Config: cloneConfig(st.cfg), CreatedBy: strings.Join(probeCfg.Cmd, " "),
		Author: st.maintainer, Platform: st.platform,
	})
	if err != nil {
		return err
	}
	st.imageID = id
	b.remember(key, id)
	return nil
}
