package importer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/retain-crm/retain/core"
)

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	Currency  string // business default currency
	TimeZone  string // business time zone, for times without an offset
	BatchSize int
	// ProgressEvery is the least time between two progress writes of a job
	// (default 250ms): progress is persisted a few times a second at most.
	ProgressEvery time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

// Manager runs import jobs in the background and persists their state
// through core.ImportJobs. A job's file stays at job.FilePath; its rejected
// rows are written next to it (RejectedPath). Jobs found "running" at start
// (the process died) are run again by Resume, which is safe because imports
// are idempotent.
type Manager struct {
	jobs core.ImportJobs
	t    Target
	opts ManagerOptions
	log  *slog.Logger

	base context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	running map[core.ID]*jobRun
}

type jobRun struct {
	cancel    context.CancelFunc
	cancelled bool
}

// NewManager returns a Manager writing through t and keeping job state in jobs.
func NewManager(jobs core.ImportJobs, t Target, opts ManagerOptions) *Manager {
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 250 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Now().UTC() }
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	base, stop := context.WithCancel(context.Background())
	return &Manager{jobs: jobs, t: t, opts: opts, log: log, base: base, stop: stop, running: map[core.ID]*jobRun{}}
}

// RejectedSuffix is appended to a job's file path for its rejected rows.
const RejectedSuffix = ".rejected.csv"

// Start records a new job and runs it in the background. The caller has
// saved the upload at job.FilePath and set Kind, FileName and, optionally,
// Mapping (TOML) and UserID. ctx only bounds the creation of the record.
func (m *Manager) Start(ctx context.Context, job core.ImportJob) (core.ImportJob, error) {
	if job.Kind != core.ImportCustomers && job.Kind != core.ImportInteractions {
		return core.ImportJob{}, core.FieldErr("kind", "must be customers or interactions")
	}
	if job.Mapping != "" {
		if _, err := ParseMapping(job.Mapping); err != nil {
			return core.ImportJob{}, err
		}
	}
	st, err := os.Stat(job.FilePath)
	if err != nil || !st.Mode().IsRegular() {
		return core.ImportJob{}, core.FieldErr("file", "the uploaded file is missing")
	}
	if m.base.Err() != nil {
		return core.ImportJob{}, fmt.Errorf("%w: the import manager is shut down", core.ErrUnavailable)
	}
	now := m.opts.Now()
	job.ID = 0
	job.SizeBytes = st.Size()
	job.State = core.ImportRunning
	job.BytesRead, job.Rows, job.Stored, job.Duplicates, job.Rejected = 0, 0, 0, 0, 0
	job.Errors, job.Message = nil, ""
	job.CreatedAt, job.StartedAt, job.FinishedAt = now, now, time.Time{}
	created, err := m.jobs.CreateImportJob(ctx, job)
	if err != nil {
		return core.ImportJob{}, err
	}
	m.launch(created)
	return created, nil
}

func (m *Manager) launch(job core.ImportJob) {
	ctx, cancel := context.WithCancel(m.base)
	m.mu.Lock()
	m.running[job.ID] = &jobRun{cancel: cancel}
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		m.run(ctx, job)
		m.mu.Lock()
		delete(m.running, job.ID)
		m.mu.Unlock()
	}()
}

// Resume runs again every job left queued or running by a previous process.
func (m *Manager) Resume(ctx context.Context) (int, error) {
	jobs, err := m.jobs.ListImportJobs(ctx, 1000)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range jobs {
		if j.State.Finished() {
			continue
		}
		m.mu.Lock()
		_, busy := m.running[j.ID]
		m.mu.Unlock()
		if busy {
			continue
		}
		m.log.Info("import: resuming job", "job", j.ID, "file", j.FileName)
		m.launch(j)
		n++
	}
	return n, nil
}

// Get returns a job.
func (m *Manager) Get(ctx context.Context, id core.ID) (core.ImportJob, error) {
	return m.jobs.GetImportJob(ctx, id)
}

// List returns the newest jobs first (limit 0: 50).
func (m *Manager) List(ctx context.Context, limit int) ([]core.ImportJob, error) {
	return m.jobs.ListImportJobs(ctx, limit)
}

// Cancel stops a running job; what it stored so far stays (importing the
// file again completes it). Cancelling a finished job is ErrConflict.
func (m *Manager) Cancel(ctx context.Context, id core.ID) error {
	m.mu.Lock()
	r, ok := m.running[id]
	if ok {
		r.cancelled = true
		r.cancel()
	}
	m.mu.Unlock()
	if ok {
		return nil
	}
	_, err := m.jobs.UpdateImportJob(ctx, id, func(j *core.ImportJob) error {
		if j.State.Finished() {
			return core.Conflictf("import job %d is already %s", id, j.State)
		}
		j.State, j.FinishedAt = core.ImportCancelled, m.opts.Now()
		return nil
	})
	return err
}

// RejectedPath returns the file of a job's rejected rows (CSV), or
// ErrNotFound when the job rejected nothing.
func (m *Manager) RejectedPath(ctx context.Context, id core.ID) (string, error) {
	j, err := m.jobs.GetImportJob(ctx, id)
	if err != nil {
		return "", err
	}
	p := j.FilePath + RejectedSuffix
	if st, err := os.Stat(p); err != nil || st.Size() == 0 {
		return "", core.NotFoundf("rejected rows of import job %d", id)
	}
	return p, nil
}

// Wait blocks until no job is running.
func (m *Manager) Wait() { m.wg.Wait() }

// Close stops every running job and waits for them. Jobs stopped this way
// stay "running" in the store, so the next process's Resume finishes them.
func (m *Manager) Close() error {
	m.stop()
	m.wg.Wait()
	return nil
}

// run executes one job and records how it ended.
func (m *Manager) run(ctx context.Context, job core.ImportJob) {
	// Writes of job state use their own context: the job's may be cancelled.
	bg := context.WithoutCancel(ctx)
	update := func(fn func(*core.ImportJob)) {
		if _, err := m.jobs.UpdateImportJob(bg, job.ID, func(j *core.ImportJob) error { fn(j); return nil }); err != nil {
			m.log.Error("import: saving job state", "job", job.ID, "err", err)
		}
	}
	var (
		mu       sync.Mutex
		errs     []core.RowError
		lastSave time.Time
	)
	start := m.opts.Now()
	update(func(j *core.ImportJob) {
		j.State, j.StartedAt, j.Message = core.ImportRunning, start, ""
		j.BytesRead, j.Rows, j.Stored, j.Duplicates, j.Rejected, j.Errors = 0, 0, 0, 0, 0, nil
	})
	res, err := m.runFile(ctx, job, func(p Progress) {
		now := time.Now()
		if now.Sub(lastSave) < m.opts.ProgressEvery {
			return
		}
		lastSave = now
		mu.Lock()
		e := append([]core.RowError(nil), errs...)
		mu.Unlock()
		update(func(j *core.ImportJob) { setProgress(j, p, e) })
	}, func(re core.RowError) {
		mu.Lock()
		if len(errs) < core.MaxJobErrors {
			errs = append(errs, re)
		}
		mu.Unlock()
	})
	m.mu.Lock()
	cancelled := m.running[job.ID] != nil && m.running[job.ID].cancelled
	m.mu.Unlock()
	shutdown := m.base.Err() != nil && !cancelled
	update(func(j *core.ImportJob) {
		setProgress(j, res.Progress, res.Errors)
		if res.Detection.Format != "" {
			j.Format = res.Detection.Format
		}
		switch {
		case err == nil:
			j.State = core.ImportDone
		case cancelled:
			j.State = core.ImportCancelled
		case shutdown:
			return // stays running; Resume picks it up
		default:
			j.State, j.Message = core.ImportFailed, err.Error()
		}
		j.FinishedAt = m.opts.Now()
	})
	switch {
	case err == nil:
		m.log.Info("import: done", "job", job.ID, "rows", res.Rows, "stored", res.Stored, "duplicates", res.Duplicates, "rejected", res.Rejected)
	case cancelled || shutdown:
		m.log.Info("import: stopped", "job", job.ID, "cancelled", cancelled, "rows", res.Rows)
	default:
		m.log.Warn("import: failed", "job", job.ID, "err", err)
	}
}

func setProgress(j *core.ImportJob, p Progress, errs []core.RowError) {
	j.BytesRead, j.Rows, j.Stored, j.Duplicates, j.Rejected = p.BytesRead, p.Rows, p.Stored, p.Duplicates, p.Rejected
	if len(errs) > core.MaxJobErrors {
		errs = errs[:core.MaxJobErrors]
	}
	j.Errors = errs
}

func (m *Manager) runFile(ctx context.Context, job core.ImportJob, progress func(Progress), onReject func(core.RowError)) (Result, error) {
	var mp *Mapping
	if job.Mapping != "" {
		var err error
		if mp, err = ParseMapping(job.Mapping); err != nil {
			return Result{}, err
		}
	}
	f, err := os.Open(job.FilePath)
	if err != nil {
		return Result{}, fmt.Errorf("opening the uploaded file: %w", err)
	}
	defer f.Close()
	rej, err := os.Create(job.FilePath + RejectedSuffix)
	if err != nil {
		return Result{}, fmt.Errorf("creating the rejected-rows file: %w", err)
	}
	res, err := Import(ctx, m.t, f, Options{
		Kind: job.Kind, Mapping: mp, Currency: m.opts.Currency, TimeZone: m.opts.TimeZone,
		BatchSize: m.opts.BatchSize, Size: job.SizeBytes, Rejected: rej,
		Progress: progress, OnReject: onReject, Now: m.opts.Now,
	})
	if cerr := rej.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return res, err
}
