package daemon

import (
	"errors"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// A pod call's phases are logged in debug mode only, and only when the
// call succeeded: the bench reads them as figures.
func TestPodPhasesLoggedInDebugOnly(t *testing.T) {
	hook := logtest.NewGlobal()
	defer hook.Reset()
	level := logrus.GetLevel()
	defer logrus.SetLevel(level)

	logrus.SetLevel(logrus.InfoLevel)
	if tr := podTrace(); tr != nil {
		t.Fatalf("a trace outside debug mode: %v", tr)
	}
	logPodPhases(nil, "pod run phases: ", "0123456789abcdef", nil)

	logrus.SetLevel(logrus.DebugLevel)
	tr := podTrace()
	if tr == nil {
		t.Fatal("no trace in debug mode")
	}
	tr.Mark("create")
	tr.Mark("cni-add")
	logPodPhases(tr, "pod run phases: ", "0123456789abcdef", errors.New("failed"))
	if n := len(hook.AllEntries()); n != 0 {
		t.Fatalf("%d log entries before a successful call, want 0", n)
	}
	logPodPhases(tr, "pod run phases: ", "0123456789abcdef", nil)
	e := hook.LastEntry()
	if e == nil || !strings.HasPrefix(e.Message, "pod run phases: total=") ||
		!strings.Contains(e.Message, " create=") || !strings.Contains(e.Message, " cni-add=") {
		t.Fatalf("log entry %+v, want the phases after the prefix", e)
	}
	if e.Data["sandbox"] != "0123456789ab" {
		t.Fatalf("sandbox field %v, want the short ID", e.Data["sandbox"])
	}
}
