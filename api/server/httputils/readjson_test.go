package httputils

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// Found by FuzzNetworkCreate: a stray closing bracket after the value was
// taken as the end of the body.
func TestReadJSONRefusesTrailingContent(t *testing.T) {
	for body, ok := range map[string]bool{`{}`: true, "{}\n \t": true, `{}}`: false, `{}]`: false, `{} {}`: false, `{}x`: false} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		var v map[string]any
		if err := ReadJSON(req, &v); (err == nil) != ok {
			t.Errorf("%q: err = %v", body, err)
		}
	}
}
