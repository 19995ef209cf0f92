package streaming

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"k8s.io/klog/v2"
)

func TestKlogGoesToLogrusAtDebug(t *testing.T) {
	var buf bytes.Buffer
	out, level := logrus.StandardLogger().Out, logrus.GetLevel()
	t.Cleanup(func() {
		logrus.SetOutput(out)
		logrus.SetLevel(level)
	})
	logrus.SetOutput(&buf)
	routeKlogToLogrus()

	logrus.SetLevel(logrus.InfoLevel)
	klog.ErrorS(errors.New("closed"), "Error on socket receive")
	if buf.Len() != 0 {
		t.Fatalf("a transport error above debug level: %s", buf.String())
	}
	logrus.SetLevel(logrus.DebugLevel)
	klog.Background().WithName("wsstream").Error(errors.New("closed"), "Error on socket receive", "channel", 3)
	got := buf.String()
	for _, want := range []string{"level=debug", `msg="Error on socket receive"`, "error=closed", "channel=3", "logger=wsstream", "module=k8s.io/streaming"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %s", got, want)
		}
	}
}
