package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// MaxReadyLag is how many change-log entries the search index may be
// behind before /readyz says not ready. It is generous on purpose: a large
// import lags the index for a while; only a stuck indexer grows past it.
const MaxReadyLag = 100_000

// GET /healthz: the process is alive and serving HTTP.
func (s *Server) healthz(c *echo.Context) error {
	return c.String(http.StatusOK, "ok")
}

// ReadyReport is the body of a ready /readyz.
type ReadyReport struct {
	Status    string `json:"status"`
	IndexLag  uint64 `json:"index_lag"`
	FreeBytes uint64 `json:"free_bytes"`
}

// GET /readyz: the store answers and is writable, the index is not too far
// behind, and the data folder has at least MinFreeBytes free. Not ready is
// a 503 whose message lists every reason.
func (s *Server) readyz(c *echo.Context) error {
	var reasons []string
	r := ReadyReport{Status: "ready"}
	if st, err := s.store.Stats(ctx(c)); err != nil {
		reasons = append(reasons, "store: "+s.safeMessage(err))
	} else if !st.Writable {
		reasons = append(reasons, "store is read-only")
	}
	if s.svc.Index == nil {
		reasons = append(reasons, "no search index")
	} else if ix, err := s.svc.Index.Status(ctx(c)); err != nil {
		reasons = append(reasons, "search index: "+s.safeMessage(err))
	} else {
		r.IndexLag = ix.Lag
		if ix.Lag > MaxReadyLag {
			reasons = append(reasons, fmt.Sprintf("search index is %d changes behind (limit %d)", ix.Lag, MaxReadyLag))
		}
	}
	free, err := freeBytes(s.cfg.Storage.DataDir)
	if err != nil {
		reasons = append(reasons, "data folder: "+err.Error())
	} else {
		r.FreeBytes = free
		if min := s.cfg.Storage.MinFreeBytes; min > 0 && free < uint64(min) {
			reasons = append(reasons, fmt.Sprintf("data folder has %d bytes free, less than storage.min_free_bytes %d", free, min))
		}
	}
	if len(reasons) > 0 {
		return fmt.Errorf("%w: not ready: %s", core.ErrUnavailable, strings.Join(reasons, "; "))
	}
	return c.JSON(http.StatusOK, r)
}

// freeBytes is the space available to this (unprivileged) process in dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return 0, fmt.Errorf("cannot stat %s: %s", dir, errno.Error())
		}
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// safeMessage shows a core error kind's text, but hides anything else
// (an unexpected error may carry file paths or internals).
func (s *Server) safeMessage(err error) string {
	if _, _, internal := errorResponse(err); internal {
		s.log.Error("readiness check failed", "error", err)
		return "unexpected error"
	}
	return err.Error()
}
