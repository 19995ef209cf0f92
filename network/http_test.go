package network

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

func waitHTTP(url, want string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	var last error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := c.Get(url)
		if err != nil {
			last = err
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), want) {
			return nil
		}
		last = fmt.Errorf("body %q", b)
	}
	return fmt.Errorf("GET %s: %v", url, last)
}
