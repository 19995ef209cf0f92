package container

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestStoreLegacyLinkNames(t *testing.T) {
	s := NewStore(t.TempDir())
	add := func(id, name string) *Container {
		c := New(id, s.Dir(id))
		c.Name = name
		if err := s.ReserveName(name, id); err != nil {
			t.Fatal(err)
		}
		s.Add(c)
		return c
	}
	db := add("dddd1111", "/db")
	web := add("eeee2222", "/web")
	web.LinkTargets = map[string]string{"db": db.ID, "cache": db.ID}
	s.ReserveLinks(web)

	if got, want := s.Names(db), []string{"/db", "/web/cache", "/web/db"}; !slices.Equal(got, want) {
		t.Fatalf("names of the link target: %q, want %q", got, want)
	}
	if got := s.Names(web); !slices.Equal(got, []string{"/web"}) {
		t.Fatalf("names of the linking container: %q", got)
	}
	if c, err := s.Get("/web/db"); err != nil || c.ID != db.ID {
		t.Fatalf("Get by link name: %v %v", c, err)
	}

	// The target's rename changes nothing: links follow the container.
	if err := s.Rename(db, "db2"); err != nil {
		t.Fatal(err)
	}
	db.Name = "/db2"
	if got, want := s.Names(db), []string{"/db2", "/web/cache", "/web/db"}; !slices.Equal(got, want) {
		t.Fatalf("after the target's rename: %q, want %q", got, want)
	}
	// The linking container's rename moves its link names.
	if err := s.Rename(web, "site"); err != nil {
		t.Fatal(err)
	}
	web.Name = "/site"
	if got, want := s.Names(db), []string{"/db2", "/site/cache", "/site/db"}; !slices.Equal(got, want) {
		t.Fatalf("after the parent's rename: %q, want %q", got, want)
	}
	if _, err := s.Get("/web/db"); err == nil {
		t.Fatal("old link name still resolves")
	}

	s.ReleaseLink("/site/cache")
	if got, want := s.Names(db), []string{"/db2", "/site/db"}; !slices.Equal(got, want) {
		t.Fatalf("after releasing a link: %q, want %q", got, want)
	}
	// Removing the target drops the names other containers gave it.
	s.Delete(db)
	if _, err := s.Get("/site/db"); err == nil {
		t.Fatal("link name of a removed container still resolves")
	}
}

func TestLegacyLinksSurviveReload(t *testing.T) {
	root := t.TempDir()
	save := func(id, name string, links map[string]string) {
		c := New(id, NewStore(root).Dir(id))
		c.Name = name
		c.Config = &container.Config{Image: "busybox"}
		c.HostConfig = &container.HostConfig{}
		c.LinkTargets = links
		if err := c.Save(); err != nil {
			t.Fatal(err)
		}
	}
	save("dddd1111", "/db", nil)
	save("eeee2222", "/web", map[string]string{"db": "dddd1111", "gone": "ffff3333"})
	s := NewStore(root)
	if _, err := s.LoadAll(func(string) {}); err != nil {
		t.Fatal(err)
	}
	db, err := s.Get("/web/db")
	if err != nil || db.ID != "dddd1111" {
		t.Fatalf("link after reload: %v %v", db, err)
	}
	if got, want := s.Names(db), []string{"/db", "/web/db"}; !slices.Equal(got, want) {
		t.Fatalf("names after reload: %q, want %q", got, want)
	}
	if _, err := s.Get("/web/gone"); err == nil {
		t.Fatal("a link to a missing container holds a name")
	}
}

// A container whose links were all removed keeps an empty set across a
// reload, which is not the nil of a container from before links were
// bound.
func TestEmptyLinkTargetsSurviveSave(t *testing.T) {
	root := t.TempDir()
	c := New("eeee2222", NewStore(root).Dir("eeee2222"))
	c.Name = "/web"
	c.Config = &container.Config{Image: "busybox"}
	c.HostConfig = &container.HostConfig{Links: []string{"db"}}
	c.LinkTargets = map[string]string{}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := Load(c.Root())
	if err != nil {
		t.Fatal(err)
	}
	if got.LinkTargets == nil {
		t.Fatal("an empty set of links came back as nil")
	}
}
