package streaming

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// kubeStatus is the part of Kubernetes' metav1.Status that remotecommand
// v4+ sends on the error stream; written here so the daemon does not link
// k8s.io/apimachinery for one small JSON object. Field names and
// omissions follow metav1.Status's JSON tags.
type kubeStatus struct {
	Kind       string         `json:"kind,omitempty"`
	APIVersion string         `json:"apiVersion,omitempty"`
	Metadata   struct{}       `json:"metadata"`
	Status     string         `json:"status,omitempty"`
	Message    string         `json:"message,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Details    *statusDetails `json:"details,omitempty"`
	Code       int32          `json:"code,omitempty"`
}

type statusDetails struct {
	Causes []statusCause `json:"causes,omitempty"`
}

type statusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// The values clients (client-go's remotecommand) look for.
const (
	statusSuccess         = "Success"
	statusFailure         = "Failure"
	reasonNonZeroExitCode = "NonZeroExitCode"
	reasonInternalError   = "InternalError"
	causeExitCode         = "ExitCode"
)

// sessionStatus is how a session ended, as the error stream reports it.
func sessionStatus(err error) kubeStatus {
	if err == nil {
		return kubeStatus{Status: statusSuccess}
	}
	if code, ok := exitCode(err); ok {
		return kubeStatus{
			Status:  statusFailure,
			Reason:  reasonNonZeroExitCode,
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", err),
			Details: &statusDetails{Causes: []statusCause{{Type: causeExitCode, Message: strconv.Itoa(code)}}},
		}
	}
	return kubeStatus{
		Status:  statusFailure,
		Reason:  reasonInternalError,
		Code:    500,
		Message: "Internal error occurred: " + err.Error(),
		Details: &statusDetails{Causes: []statusCause{{Message: err.Error()}}},
	}
}

func exitCode(err error) (int, bool) {
	var v ExitError
	if errors.As(err, &v) {
		return v.Code, true
	}
	var p *ExitError
	if errors.As(err, &p) && p != nil {
		return p.Code, true
	}
	return 0, false
}

// statusWriter writes a session's end to the error stream in the
// dialect the negotiated protocol speaks.
type statusWriter func(w io.Writer, st kubeStatus) error

// writeStatusJSON is v4 and v5: the Status as JSON, success included.
func writeStatusJSON(w io.Writer, st kubeStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// writeStatusText is v1 to v3: a failure's message as plain text, and
// nothing on success.
func writeStatusText(w io.Writer, st kubeStatus) error {
	if st.Status == statusSuccess {
		return nil
	}
	_, err := io.WriteString(w, st.Message)
	return err
}
