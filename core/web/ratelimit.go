package web

import (
	"fmt"
	"sync"
	"time"

	"github.com/retain-crm/retain/core"
)

// failures counts failed sign-ins per key (an account, an address) in a
// fixed window. It lives in memory: one server, and a restart forgetting
// counts is acceptable (argon2id still makes each guess cost ~60 ms).
type failures struct {
	mu     sync.Mutex
	window time.Duration
	seen   map[string]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

func newFailures(window time.Duration) *failures {
	return &failures{window: window, seen: map[string]*failWindow{}}
}

// blocked reports whether key reached max failures in the current window,
// and when it may try again.
func (f *failures) blocked(key string, max int, now time.Time) (bool, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.seen[key]
	if w == nil || now.Sub(w.start) >= f.window {
		return false, time.Time{}
	}
	return w.n >= max, w.start.Add(f.window)
}

// fail records one failure for key.
func (f *failures) fail(key string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.seen[key]
	if w == nil || now.Sub(w.start) >= f.window {
		if len(f.seen) > 100_000 { // bound memory under a spray of addresses
			f.sweep(now)
		}
		f.seen[key] = &failWindow{start: now, n: 1}
		return
	}
	w.n++
}

// reset forgets key (after a successful sign-in of that account).
func (f *failures) reset(key string) {
	f.mu.Lock()
	delete(f.seen, key)
	f.mu.Unlock()
}

func (f *failures) sweep(now time.Time) {
	for k, w := range f.seen {
		if now.Sub(w.start) >= f.window {
			delete(f.seen, k)
		}
	}
}

// signInAllowed checks both limits before a password is even hashed.
func (s *Server) signInAllowed(email, ip string) error {
	now := s.now()
	max := s.cfg.Auth.MaxFailures
	if b, until := s.fails.blocked("ip:"+ip, 10*max, now); b {
		return fmt.Errorf("%w: too many failed sign-ins from your address; try again after %s", core.ErrRateLimited, until.Format("15:04 MST"))
	}
	if b, until := s.fails.blocked("acct:"+email, max, now); b {
		return fmt.Errorf("%w: too many failed sign-ins for this account; try again after %s", core.ErrRateLimited, until.Format("15:04 MST"))
	}
	return nil
}

func (s *Server) signInFailed(email, ip string) {
	now := s.now()
	s.fails.fail("ip:"+ip, now)
	s.fails.fail("acct:"+email, now)
}
