package streaming

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// kubelet's request cache: a URL is good for one minute and one use, and
// at most 1000 wait to be redeemed, so a caller that never connects
// cannot grow the daemon's memory.
const (
	tokenTTL      = time.Minute
	maxInFlight   = 1000
	tokenLenBytes = 8
)

// tokenCache holds the requests behind the URLs handed out, by token.
type tokenCache struct {
	mu      sync.Mutex
	now     func() time.Time // a test moves the clock
	pending map[string]pendingRequest
}

type pendingRequest struct {
	req     any
	expires time.Time
}

func newTokenCache() *tokenCache {
	return &tokenCache{now: time.Now, pending: map[string]pendingRequest{}}
}

// insert stores req under a new random token.
func (c *tokenCache) insert(req any) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.dropExpired(now)
	if len(c.pending) >= maxInFlight {
		return "", status.Error(codes.ResourceExhausted, "maximum number of in-flight streaming requests exceeded")
	}
	for {
		token, err := newToken()
		if err != nil {
			return "", status.Errorf(codes.Internal, "streaming token: %v", err)
		}
		if _, taken := c.pending[token]; taken {
			continue
		}
		c.pending[token] = pendingRequest{req: req, expires: now.Add(tokenTTL)}
		return token, nil
	}
}

// consume returns the request behind token and forgets it: a URL is
// redeemed once.
func (c *tokenCache) consume(token string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pending[token]
	if !ok {
		return nil, false
	}
	delete(c.pending, token)
	if !c.now().Before(p.expires) {
		return nil, false
	}
	return p.req, true
}

func (c *tokenCache) dropExpired(now time.Time) {
	for token, p := range c.pending {
		if !now.Before(p.expires) {
			delete(c.pending, token)
		}
	}
}

func newToken() (string, error) {
	b := make([]byte, tokenLenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
