package image

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/image/layer"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/faultpoint"
)

type conflictKind int

const (
	conflictDependentChild conflictKind = 1 << iota
	conflictRunningContainer
	conflictActiveReference
	conflictStoppedContainer
	conflictHard = conflictDependentChild | conflictRunningContainer
	conflictSoft = conflictActiveReference | conflictStoppedContainer
)

type deleteConflict struct {
	id      digest.Digest
	hard    bool
	used    bool
	message string
}

func (e *deleteConflict) Error() string {
	force := "must be forced"
	if e.hard {
		force = "cannot be forced"
	}
	return fmt.Sprintf("conflict: unable to delete %s (%s) - %s", shortHex(e.id), force, e.message)
}

func (e *deleteConflict) Conflict() {}

func shortHex(id digest.Digest) string { return truncID(id.Encoded()) }

func truncID(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// usedBy reads the snapshot taken before mu; callers hold mu.
func (s *Service) usedBy(id digest.Digest) []Usage { return s.snap[id] }

// asImage keeps the containers that use an image as their own, leaving
// out image mounts.
func asImage(users []Usage) []Usage {
	var out []Usage
	for _, u := range users {
		if !u.Mount {
			out = append(out, u)
		}
	}
	return out
}

// checkConflict reports the first conflict in mask that deleting id hits,
// in dockerd's order.
func (s *Service) checkConflictLocked(id digest.Digest, mask conflictKind) *deleteConflict {
	if mask&conflictDependentChild != 0 && len(s.childrenLocked(id)) > 0 {
		return &deleteConflict{id: id, hard: true, message: "image has dependent child images"}
	}
	users := asImage(s.usedBy(id))
	if mask&conflictRunningContainer != 0 {
		for _, u := range users {
			if u.Running {
				return &deleteConflict{id: id, hard: true, used: true, message: "image is being used by running container " + truncID(u.ContainerID)}
			}
		}
	}
	if mask&conflictActiveReference != 0 && len(s.refs.References(id)) > 0 {
		return &deleteConflict{id: id, message: "image is referenced in multiple repositories"}
	}
	if mask&conflictStoppedContainer != 0 {
		for _, u := range users {
			if !u.Running {
				return &deleteConflict{id: id, used: true, message: "image is being used by stopped container " + truncID(u.ContainerID)}
			}
		}
	}
	return nil
}

// isSingleReference is dockerd's rule for "removing by ID may untag":
// one tag, plus only digest references of that same repository.
func isSingleReference(refs []reference.Named) bool {
	if len(refs) <= 1 {
		return len(refs) == 1
	}
	var single reference.Named
	canonical := map[string]bool{}
	for _, r := range refs {
		if _, ok := r.(reference.Canonical); ok {
			canonical[r.Name()] = true
		} else if single == nil {
			single = r
		} else {
			return false
		}
	}
	if single == nil {
		single = refs[0]
	}
	return len(canonical) == 1 && canonical[single.Name()]
}

// Delete removes a reference or an image, as DELETE /images/{name} does:
// a name is untagged, and the image goes with its last name; an ID removes
// the image with its names when that is unambiguous or forced.
func (s *Service) Delete(refOrID string, force, prune bool) ([]imagetypes.DeleteResponse, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	snap := s.usageSnapshot()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = snap
	return s.deleteLocked(refOrID, force, prune)
}

func (s *Service) deleteLocked(refOrID string, force, prune bool) ([]imagetypes.DeleteResponse, error) {
	img, err := s.getLocked(refOrID)
	if err != nil {
		return nil, err
	}
	id := img.ID
	records := []imagetypes.DeleteResponse{}
	repoRefs := s.refs.References(id)
	removedRepositoryRef := false

	if !isIDPrefix(id, refOrID) {
		if !force && isSingleReference(repoRefs) {
			if users := s.usedBy(id); len(users) > 0 {
				return nil, errdefs.Conflictf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
					refOrID, truncID(users[0].ContainerID), shortHex(id))
			}
		}
		parsed, err := reference.ParseNormalizedNamed(refOrID)
		if err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
		parsed = reference.TagNameOnly(parsed)
		if ok, err := s.refs.Delete(parsed); err != nil {
			return nil, err
		} else if !ok {
			return nil, notFound(reference.FamiliarString(parsed))
		}
		records = append(records, imagetypes.DeleteResponse{Untagged: reference.FamiliarString(parsed)})
		s.log(events.ActionUnTag, img, id.String())

		repoRefs = s.refs.References(id)
		// A removed tag takes the digest references of its repository
		// with it when no other tag of that repository remains.
		if _, canonical := parsed.(reference.Canonical); !canonical {
			sameRepoTag := false
			for _, r := range repoRefs {
				if _, c := r.(reference.Canonical); !c && r.Name() == parsed.Name() {
					sameRepoTag = true
					break
				}
			}
			if !sameRepoTag {
				var kept []reference.Named
				for _, r := range repoRefs {
					if _, c := r.(reference.Canonical); c && r.Name() == parsed.Name() {
						if _, err := s.refs.Delete(r); err != nil {
							return records, err
						}
						records = append(records, imagetypes.DeleteResponse{Untagged: reference.FamiliarString(r)})
						continue
					}
					kept = append(kept, r)
				}
				repoRefs = kept
			}
		}
		if len(repoRefs) > 0 {
			return records, nil
		}
		removedRepositoryRef = true
	} else if isSingleReference(repoRefs) {
		mask := conflictHard
		if !force {
			mask |= conflictSoft &^ conflictActiveReference
		}
		if c := s.checkConflictLocked(id, mask); c != nil {
			return nil, c
		}
		for _, r := range repoRefs {
			if _, err := s.refs.Delete(r); err != nil {
				return records, err
			}
			records = append(records, imagetypes.DeleteResponse{Untagged: reference.FamiliarString(r)})
			s.log(events.ActionUnTag, img, id.String())
		}
	}
	err = s.deleteHelperLocked(img, &records, force, prune, removedRepositoryRef)
	return records, err
}

func (s *Service) deleteHelperLocked(img *Image, records *[]imagetypes.DeleteResponse, force, prune, quiet bool) error {
	mask := conflictHard
	if !force {
		mask |= conflictSoft
	}
	if c := s.checkConflictLocked(img.ID, mask); c != nil {
		// Dangling is dockerd's imageIsDangling: no names and no
		// children. An untagged parent that other images build on is
		// not dangling, so pruning stops there without an error, as
		// the untag of an image whose children keep it does.
		dangling := len(s.refs.References(img.ID)) == 0 && len(s.childrenLocked(img.ID)) == 0
		if quiet && (!dangling || c.used) {
			// The untag the user asked for happened; the image stays.
			return nil
		}
		return c
	}
	for _, r := range s.refs.References(img.ID) {
		if _, err := s.refs.Delete(r); err != nil {
			return err
		}
		*records = append(*records, imagetypes.DeleteResponse{Untagged: reference.FamiliarString(r)})
		s.log(events.ActionUnTag, img, img.ID.String())
	}
	removed, err := s.removeImageLocked(img)
	if err != nil {
		return err
	}
	s.log(events.ActionDelete, img, img.ID.String())
	*records = append(*records, imagetypes.DeleteResponse{Deleted: img.ID.String()})
	for _, l := range removed {
		*records = append(*records, imagetypes.DeleteResponse{Deleted: l.ChainID.String()})
	}
	if !prune || img.Parent == "" {
		return nil
	}
	parent := s.images[img.Parent]
	if parent == nil || len(s.refs.References(parent.ID)) > 0 {
		return nil
	}
	return s.deleteHelperLocked(parent, records, false, true, true)
}

// removeImageLocked deletes the image record first (the commit point),
// then its config and its hold on the layers.
func (s *Service) removeImageLocked(img *Image) ([]layer.Layer, error) {
	if err := os.Remove(filepath.Join(s.imagesDir(), img.ID.Encoded()+".json")); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	delete(s.images, img.ID)
	faultpoint.Hit("image.rm.after-record")
	// After the record: a crash in between leaves a file the next
	// start removes (readTagTimes).
	os.Remove(filepath.Join(s.tagTimesDir(), img.ID.Encoded()))
	s.content.Delete(img.ID)
	if img.TopChain == "" {
		return nil, nil
	}
	return s.layers.Release(img.TopChain), nil
}
