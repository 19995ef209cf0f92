package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUseStageExecutableChecksTheStamp: a stage binary is taken only from
// a stamped build and only if it carries the same stamp; what is taken is
// a sealed copy, not the file.
func TestUseStageExecutableChecksTheStamp(t *testing.T) {
	oldStamp, oldCopy := StageStamp, stageCopy
	t.Cleanup(func() { StageStamp, stageCopy = oldStamp, oldCopy })
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	mine := filepath.Join(dir, "mine")
	os.WriteFile(other, []byte("\x7fELF...berth-stage-0000..."), 0o755)
	os.WriteFile(mine, []byte("\x7fELF...berth-stage-1234..."), 0o755)

	StageStamp, stageCopy = "", nil
	if err := UseStageExecutable(mine); !errors.Is(err, ErrNoStageStamp) {
		t.Fatalf("unstamped build: %v, want ErrNoStageStamp", err)
	}
	StageStamp = "berth-stage-1234"
	if err := UseStageExecutable(other); err == nil || stageCopy != nil {
		t.Fatalf("a stage of another build was taken (err %v)", err)
	}
	if err := UseStageExecutable(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing stage was taken")
	}
	if err := UseStageExecutable(mine); err != nil || stageCopy == nil {
		t.Fatalf("the stage of this build was refused: %v", err)
	}
	s, err := unix.FcntlInt(stageCopy.Fd(), unix.F_GET_SEALS, 0)
	if err != nil || s&seals != seals {
		t.Fatalf("stage copy seals %#x (%v), want %#x", s, err, seals)
	}
	// Changing the file afterwards changes nothing that runs.
	os.WriteFile(mine, []byte("replaced"), 0o755)
	var st unix.Stat_t
	if err := unix.Fstat(int(stageCopy.Fd()), &st); err != nil || st.Size != int64(len("\x7fELF...berth-stage-1234...")) {
		t.Fatalf("stage copy size %d (%v)", st.Size, err)
	}
	stageCopy.Close()
}

// TestContainsStampAcrossPieces: a stamp that straddles the boundary of
// two reads is still found.
func TestContainsStampAcrossPieces(t *testing.T) {
	stamp := []byte("berth-stage-abcdef")
	for _, at := range []int{0, 64<<10 - 5, 64 << 10, 3*(64<<10) + 7} {
		f, err := os.CreateTemp(t.TempDir(), "stage")
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4*(64<<10))
		copy(b[at:], stamp)
		f.Write(b)
		if ok, err := containsStamp(f, stamp); err != nil || !ok {
			t.Errorf("stamp at %d: %v %v", at, ok, err)
		}
		if ok, _ := containsStamp(f, []byte("berth-stage-zzzzzz")); ok {
			t.Errorf("a stamp that is not there was found")
		}
		f.Close()
	}
}

// TestUseStageExecutableInBackground: the copy happens off the caller's
// path, and whoever launches a stage first waits for it instead of racing
// it (launching from this binary while the stage copy is half made).
func TestUseStageExecutableInBackground(t *testing.T) {
	oldStamp, oldCopy, oldPending := StageStamp, stageCopy, stagePending
	t.Cleanup(func() { StageStamp, stageCopy, stagePending = oldStamp, oldCopy, oldPending })
	mine := filepath.Join(t.TempDir(), "mine")
	os.WriteFile(mine, []byte("\x7fELF...berth-stage-5678..."), 0o755)
	StageStamp, stageCopy = "berth-stage-5678", nil

	answered := make(chan error, 1)
	UseStageExecutableInBackground(mine, func(err error) { answered <- err })
	waitStage()
	if stageCopy == nil {
		t.Fatal("waitStage returned before the stage copy was made")
	}
	if err := <-answered; err != nil {
		t.Fatalf("done got %v", err)
	}
	stageCopy.Close()

	// A refused stage still ends the wait, leaving stages on this binary.
	stageCopy = nil
	UseStageExecutableInBackground(filepath.Join(t.TempDir(), "missing"), func(err error) { answered <- err })
	waitStage()
	if stageCopy != nil || <-answered == nil {
		t.Fatal("a missing stage binary was taken")
	}
}
