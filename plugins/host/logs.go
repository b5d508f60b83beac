package host

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"sync"
	"unicode"

	"github.com/hashicorp/go-hclog"
)

// maxLogLine bounds one logged line of plugin output; a plugin cannot flood
// the host log with megabyte lines.
const maxLogLine = 4 << 10

// escape makes plugin output safe for the host log: control and invalid
// characters are written as Go escapes, so a plugin cannot forge log lines
// (a newline, an ANSI sequence) or break a terminal.
func escape(s string) string {
	if len(s) > maxLogLine {
		s = s[:maxLogLine] + "…(truncated)"
	}
	clean := true
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

// lineLogger is an io.Writer that logs each line written to it.
type lineLogger struct {
	log    *slog.Logger
	stream string
	mu     sync.Mutex
	buf    []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLogLine {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineLogger) emit(line []byte) {
	line = bytes.TrimRight(line, "\r")
	if len(line) == 0 {
		return
	}
	w.log.Info("plugin output", "stream", w.stream, "line", escape(string(line)))
}

// hclogToSlog is the logger go-plugin gets: the plugin's own log lines
// (hclog JSON on its stderr, parsed by go-plugin) and go-plugin's messages
// go to slog, escaped, tagged with the plugin's name.
func hclogToSlog(log *slog.Logger) hclog.Logger {
	l := hclog.NewInterceptLogger(&hclog.LoggerOptions{Output: discard{}, Level: hclog.Debug})
	l.RegisterSink(sink{log})
	return l
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type sink struct{ log *slog.Logger }

func (s sink) Accept(name string, level hclog.Level, msg string, args ...any) {
	lvl := slog.LevelInfo
	switch {
	case level <= hclog.Debug:
		lvl = slog.LevelDebug
	case level == hclog.Warn:
		lvl = slog.LevelWarn
	case level >= hclog.Error:
		lvl = slog.LevelError
	}
	// go-plugin reports every exit of the process at error level, also the
	// ones the supervisor caused (stop, restart, refusal); the supervisor
	// logs what went wrong itself.
	if msg == "plugin process exited" && lvl > slog.LevelInfo {
		lvl = slog.LevelInfo
	}
	attrs := []any{}
	if name != "" {
		attrs = append(attrs, "source", escape(name))
	}
	for i := 0; i+1 < len(args); i += 2 {
		k, _ := args[i].(string)
		if k == "plugin" { // go-plugin's key for the executable path; ours names the plugin
			k = "path"
		}
		attrs = append(attrs, escape(k), escapeAny(args[i+1]))
	}
	s.log.Log(context.Background(), lvl, escape(msg), attrs...)
}

func escapeAny(v any) any {
	if s, ok := v.(string); ok {
		return escape(s)
	}
	if e, ok := v.(error); ok {
		return escape(e.Error())
	}
	return v
}
