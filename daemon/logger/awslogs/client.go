package awslogs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// credentials sign requests.
type credentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	Token           string
}

// loadCredentials reads the daemon's environment, or asks the
// credentials endpoint (ECS's, at 169.254.170.2) for them.
func loadCredentials(ctx context.Context, endpoint string) (credentials, error) {
	if endpoint != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://169.254.170.2"+endpoint, http.NoBody)
		if err != nil {
			return credentials{}, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return credentials{}, err
		}
		defer resp.Body.Close()
		var c credentials
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
			return credentials{}, fmt.Errorf("awslogs: credentials endpoint: %w", err)
		}
		return c, nil
	}
	c := credentials{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), Token: os.Getenv("AWS_SESSION_TOKEN")}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, errors.New("awslogs: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the daemon's environment, or awslogs-credentials-endpoint")
	}
	return c, nil
}

// client calls CloudWatch Logs' JSON API.
type client struct {
	http     *http.Client
	endpoint string
	region   string
	creds    credentials
	format   string // awslogs-format, sent as x-amzn-logs-format
}

// apiError is the service's error body.
type apiError struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

// isType tells whether err is the service's error of that type (the type
// may carry a namespace prefix, "…#ResourceAlreadyExistsException").
func isType(err error, typ string) bool {
	var ae *apiError
	return errors.As(err, &ae) && (ae.Type == typ || strings.HasSuffix(ae.Type, "#"+typ))
}

// call posts one action (CreateLogGroup, CreateLogStream, PutLogEvents)
// and decodes the answer into out.
func (c *client) call(ctx context.Context, action string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Logs_20140328."+action)
	if c.format != "" {
		req.Header.Set("x-amzn-logs-format", c.format)
	}
	sign(req, body, c.creds, c.region, time.Now())
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		ae := &apiError{}
		if json.Unmarshal(b, ae) != nil || ae.Type == "" {
			return fmt.Errorf("awslogs: %s: %s: %s", action, resp.Status, b)
		}
		return ae
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// sign adds AWS Signature Version 4 to req, for the logs service.
func sign(req *http.Request, body []byte, creds credentials, region string, now time.Time) {
	now = now.UTC()
	amzDate := now.Format("20060102T150405Z")
	day := now.Format("20060102")
	req.Header.Set("X-Amz-Date", amzDate)
	if creds.Token != "" {
		req.Header.Set("X-Amz-Security-Token", creds.Token)
	}
	payload := sha256.Sum256(body)
	headers := []string{"content-type", "host", "x-amz-date", "x-amz-target"}
	if creds.Token != "" {
		headers = append(headers, "x-amz-security-token")
	}
	slices.Sort(headers)
	var canonHeaders strings.Builder
	for _, h := range headers {
		v := req.Header.Get(h)
		if h == "host" {
			v = req.URL.Host
		}
		canonHeaders.WriteString(h + ":" + strings.TrimSpace(v) + "\n")
	}
	signed := strings.Join(headers, ";")
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canonical := strings.Join([]string{req.Method, path, canonicalQuery(req.URL), canonHeaders.String(), signed, hex.EncodeToString(payload[:])}, "\n")
	scope := day + "/" + region + "/logs/aws4_request"
	digest := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(digest[:])
	key := hmacSHA256([]byte("AWS4"+creds.SecretAccessKey), day)
	for _, part := range []string{region, "logs", "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+creds.AccessKeyID+"/"+scope+
		", SignedHeaders="+signed+", Signature="+hex.EncodeToString(hmacSHA256(key, toSign)))
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func canonicalQuery(u *url.URL) string {
	return strings.ReplaceAll(u.Query().Encode(), "+", "%20")
}
