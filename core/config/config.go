// Package config is retain's typed configuration: defaults, the TOML file,
// RETAIN_SECTION__KEY environment overrides and validation. It is loaded once
// at start and passed down explicitly; nothing reads the environment later.
// It imports the standard library, core and the TOML decoder only.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/retain-crm/retain/core"
)

// Config is every setting. The toml tags are the keys of config.example.toml
// and, upper-cased, of the environment (server.listen is RETAIN_SERVER__LISTEN).
type Config struct {
	Server    Server    `toml:"server"`
	Auth      Auth      `toml:"auth"`
	Storage   Storage   `toml:"storage"`
	Search    Search    `toml:"search"`
	Business  Business  `toml:"business"`
	Import    Import    `toml:"import"`
	Metrics   Metrics   `toml:"metrics"`
	Log       Log       `toml:"log"`
	Analytics Analytics `toml:"analytics"`
	Plugins   Plugins   `toml:"plugins"`
	Outbox    Outbox    `toml:"outbox"`
}

// Server is the HTTP listener.
type Server struct {
	Listen          string        `toml:"listen"`
	BaseURL         string        `toml:"base_url"`
	MaxBodyBytes    int64         `toml:"max_body_bytes"`
	MaxUploadBytes  int64         `toml:"max_upload_bytes"`
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`
	// TrustedProxies are the addresses (IPs or CIDR ranges) of reverse
	// proxies in front of the CRM. A request from one of them is taken to
	// come from the address its X-Forwarded-For names, so per-address
	// limits (sign-in, hooks), sessions and the audit log see the client,
	// not the proxy. Empty: the peer address is the client.
	TrustedProxies []string `toml:"trusted_proxies"`
	// HookRequestsPerMinute is how many requests one address may make to
	// /hooks/... in a minute (gateways posting receipts in bursts).
	HookRequestsPerMinute int `toml:"hook_requests_per_minute"`
}

// ProxyRanges parses TrustedProxies (validated by Validate).
func (s Server) ProxyRanges() ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, p := range s.TrustedProxies {
		p = strings.TrimSpace(p)
		if ip := net.ParseIP(p); ip != nil {
			bits := 8 * len(ip.To4())
			if bits == 0 {
				bits = 128
			} else {
				ip = ip.To4()
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR range", p)
		}
		out = append(out, n)
	}
	return out, nil
}

// Auth governs staff sign-in and browser sessions.
type Auth struct {
	// SessionIdle ends a session nobody has used for this long.
	SessionIdle time.Duration `toml:"session_idle"`
	// SessionLifetime ends every session this long after sign-in.
	SessionLifetime time.Duration `toml:"session_lifetime"`
	// SecureCookies: "auto" marks cookies Secure when base_url is https or
	// the request came over TLS; "always" or "never" force it.
	SecureCookies string `toml:"secure_cookies"`
	// MaxFailures per account, and ten times as many per address, within
	// FailureWindow before sign-in is refused until the window passes.
	MaxFailures   int           `toml:"max_failures"`
	FailureWindow time.Duration `toml:"failure_window"`
}

// Storage is where the data lives.
type Storage struct {
	DataDir string `toml:"data_dir"`
	// MinFreeBytes below which /readyz reports not ready.
	MinFreeBytes int64 `toml:"min_free_bytes"`
}

// Search tunes the indexer.
type Search struct {
	BatchSize    int           `toml:"batch_size"`
	PollInterval time.Duration `toml:"poll_interval"`
}

// Business holds what the business is: its time zone (period boundaries and
// display), currency and phone country.
type Business struct {
	Name               string `toml:"name"`
	TimeZone           string `toml:"time_zone"`
	Currency           string `toml:"currency"`
	DefaultCallingCode string `toml:"default_calling_code"`
}

// Import tunes file imports.
type Import struct {
	BatchSize int `toml:"batch_size"`
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	Enabled bool `toml:"enabled"`
	// AllowRemote serves /metrics to any address; otherwise loopback only.
	AllowRemote bool `toml:"allow_remote"`
}

// Log is the slog output.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Analytics tunes the retention engine (core/analytics): when a customer
// counts as lost, the models' time unit and the lifetime-value horizon.
type Analytics struct {
	// Churn is the churn definition: "inactivity" (no purchase for
	// ChurnDays), "cancellation" (a cancelled subscription) or "p_alive"
	// (BG/NBD P(alive) below PAliveThreshold).
	Churn           string  `toml:"churn"`
	ChurnDays       int     `toml:"churn_days"`
	PAliveThreshold float64 `toml:"p_alive_threshold"`
	// Unit is the models' time unit: "day" or "week".
	Unit string `toml:"unit"`
	// HorizonDays and AnnualDiscountRate define predicted lifetime value.
	HorizonDays        int     `toml:"horizon_days"`
	AnnualDiscountRate float64 `toml:"annual_discount_rate"`
	// RefitEvery is how often the models are refitted in the background.
	RefitEvery time.Duration `toml:"refit_every"`
	// PollInterval is how often the engine looks for new events.
	PollInterval time.Duration `toml:"poll_interval"`
}

// Plugins governs the plugin host (plugins/host): which plugins run, how
// third-party binaries are pinned, and how crashed or hung ones are handled.
type Plugins struct {
	// Dir holds third-party plugin executables; each must be pinned.
	Dir string `toml:"dir"`
	// Builtin lists the built-in plugins to run (e.g. "email").
	Builtin []string `toml:"builtin"`
	// Pinned maps a third-party plugin's file name in Dir to the SHA-256
	// (hex) of the executable; a binary that differs is refused.
	Pinned map[string]string `toml:"pinned"`
	// Env names the host environment variables a plugin process gets; no
	// other variable (no secret) reaches it.
	Env []string `toml:"env"`
	// HealthInterval between pings; a plugin that does not answer within
	// HealthTimeout is restarted.
	HealthInterval time.Duration `toml:"health_interval"`
	HealthTimeout  time.Duration `toml:"health_timeout"`
	// RestartBackoff is the first wait before a restart; it doubles up to
	// MaxBackoff.
	RestartBackoff time.Duration `toml:"restart_backoff"`
	MaxBackoff     time.Duration `toml:"max_backoff"`
	// MaxCrashes within CrashWindow disable a plugin until an admin
	// enables it again.
	MaxCrashes  int           `toml:"max_crashes"`
	CrashWindow time.Duration `toml:"crash_window"`
	// EventPollInterval is how often packs are handed the interactions
	// appended since their last batch; TickInterval how often their clock
	// (Tick) is called.
	EventPollInterval time.Duration `toml:"event_poll_interval"`
	TickInterval      time.Duration `toml:"tick_interval"`
}

// Outbox governs message delivery (core/outbox): how many messages are
// handed to channels at once, how failures are retried, and how fast each
// channel may send.
type Outbox struct {
	// Workers deliver messages concurrently (each waits on one channel call).
	Workers int `toml:"workers"`
	// MaxAttempts before a message that keeps failing retryably is failed.
	MaxAttempts int `toml:"max_attempts"`
	// RetryBackoff is the wait after the first retryable failure; it doubles
	// per attempt up to MaxRetryBackoff (with jitter).
	RetryBackoff    time.Duration `toml:"retry_backoff"`
	MaxRetryBackoff time.Duration `toml:"max_retry_backoff"`
	// SendTimeout bounds one channel call; a plugin that does not answer
	// within it is treated as a retryable failure.
	SendTimeout time.Duration `toml:"send_timeout"`
	// Rates caps messages per second per channel, e.g. { sms = 5 }; a
	// channel not listed is not capped.
	Rates map[string]float64 `toml:"rates"`
	// RequireConsent: send only to customers who granted consent for the
	// channel. Off, only a withdrawn consent stops a message.
	RequireConsent bool `toml:"require_consent"`
	// PollInterval is how often due retries are looked for.
	PollInterval time.Duration `toml:"poll_interval"`
}

// Default returns the configuration used when no file sets anything.
func Default() Config {
	return Config{
		Server: Server{
			Listen:          "127.0.0.1:8080",
			MaxBodyBytes:    32 << 20,
			MaxUploadBytes:  2 << 30,
			ShutdownTimeout: 30 * time.Second,

			TrustedProxies:        []string{},
			HookRequestsPerMinute: 3000,
		},
		Auth: Auth{SessionIdle: 12 * time.Hour, SessionLifetime: 7 * 24 * time.Hour,
			SecureCookies: "auto", MaxFailures: 5, FailureWindow: 15 * time.Minute},
		Storage:  Storage{DataDir: "./data", MinFreeBytes: 256 << 20},
		Search:   Search{BatchSize: 2000, PollInterval: 200 * time.Millisecond},
		Business: Business{Name: "My business", TimeZone: "UTC", Currency: "USD"},
		Import:   Import{BatchSize: 5000},
		Metrics:  Metrics{},
		Log:      Log{Level: "info", Format: "text"},
		Analytics: Analytics{Churn: "inactivity", ChurnDays: 90, PAliveThreshold: 0.3, Unit: "week",
			HorizonDays: 365, AnnualDiscountRate: 0.10, RefitEvery: 6 * time.Hour, PollInterval: time.Second},
		Plugins: Plugins{Dir: "./plugins", Builtin: []string{}, Pinned: map[string]string{},
			Env: []string{"PATH", "TZ", "LANG", "LC_ALL", "TMPDIR"}, HealthInterval: 10 * time.Second,
			HealthTimeout: 3 * time.Second, RestartBackoff: time.Second, MaxBackoff: time.Minute,
			MaxCrashes: 5, CrashWindow: 10 * time.Minute, EventPollInterval: time.Second, TickInterval: time.Minute},
		Outbox: Outbox{Workers: 16, MaxAttempts: 8, RetryBackoff: 30 * time.Second, MaxRetryBackoff: time.Hour,
			SendTimeout: 30 * time.Second, Rates: map[string]float64{}, PollInterval: time.Second},
	}
}

// EnvPrefix starts every environment override.
const EnvPrefix = "RETAIN_"

// Load reads the defaults, then path (if not empty), then the environment
// (environ as from os.Environ), and validates the result. Errors name the key.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		md, err := toml.Decode(string(b), &cfg)
		if err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			keys := make([]string, len(und))
			for i, k := range und {
				keys[i] = k.String()
			}
			return cfg, fmt.Errorf("config %s: unknown key %s", path, strings.Join(keys, ", "))
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// applyEnv sets fields from RETAIN_SECTION__KEY variables. An unknown
// RETAIN_ variable is an error, so a typo never silently does nothing.
func applyEnv(cfg *Config, environ []string) error {
	root := reflect.ValueOf(cfg).Elem()
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		sec, key, ok := strings.Cut(strings.ToLower(strings.TrimPrefix(name, EnvPrefix)), "__")
		if !ok {
			if notConfig(name) {
				continue
			}
			return fmt.Errorf("environment %s: expected %sSECTION__KEY", name, EnvPrefix)
		}
		f, ok := field(root, sec, key)
		if !ok {
			return fmt.Errorf("environment %s: unknown key %s.%s", name, sec, key)
		}
		if err := setString(f, val); err != nil {
			return fmt.Errorf("environment %s (%s.%s): %w", name, sec, key, err)
		}
	}
	return nil
}

// notConfig reports the RETAIN_ variables that are not configuration keys:
// the config file's path (read by main), the API token of `retain backup
// --server`, and the switches of the test suite, which a test's child
// process (the built binary) inherits from `go test`.
func notConfig(name string) bool {
	switch strings.TrimPrefix(name, EnvPrefix) {
	case "CONFIG", "TOKEN", "REQUIRE_BROWSER", "SCREENSHOTS", "E2E_ARTIFACTS", "CHROMIUM":
		return true
	}
	return strings.HasPrefix(name, EnvPrefix+"BENCH_") || strings.HasPrefix(name, EnvPrefix+"CRASH_")
}

func field(root reflect.Value, sec, key string) (reflect.Value, bool) {
	t := root.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("toml") != sec {
			continue
		}
		s := root.Field(i)
		st := s.Type()
		for j := 0; j < st.NumField(); j++ {
			if st.Field(j).Tag.Get("toml") == key {
				return s.Field(j), true
			}
		}
	}
	return reflect.Value{}, false
}

// Set assigns one setting by its dotted key ("server.listen"), as flags do.
func (c *Config) Set(key, val string) error {
	sec, k, _ := strings.Cut(key, ".")
	f, ok := field(reflect.ValueOf(c).Elem(), sec, k)
	if !ok {
		return fmt.Errorf("unknown key %s", key)
	}
	if err := setString(f, val); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func setString(f reflect.Value, val string) error {
	switch f.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("%q is not a duration (like 30s or 5m)", val)
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(val)
	case reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("%q is not true or false", val)
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", val)
		}
		f.SetInt(n)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported type %s", f.Type())
		}
		// A list in the environment is comma-separated.
		var items []string
		for _, it := range strings.Split(val, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		f.Set(reflect.ValueOf(append([]string{}, items...)))
	case reflect.Float64:
		x, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", val)
		}
		f.SetFloat(x)
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

// Validate refuses values that cannot work, naming the key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		bad("server.listen", "%q is not host:port", c.Server.Listen)
	}
	if c.Server.BaseURL != "" && !strings.HasPrefix(c.Server.BaseURL, "http://") && !strings.HasPrefix(c.Server.BaseURL, "https://") {
		bad("server.base_url", "%q must start with http:// or https://", c.Server.BaseURL)
	}
	if c.Server.MaxBodyBytes < 1<<10 {
		bad("server.max_body_bytes", "must be at least 1024")
	}
	if c.Server.MaxUploadBytes < 1<<10 {
		bad("server.max_upload_bytes", "must be at least 1024")
	}
	if c.Server.ShutdownTimeout <= 0 {
		bad("server.shutdown_timeout", "must be positive")
	}
	if _, err := c.Server.ProxyRanges(); err != nil {
		bad("server.trusted_proxies", "%v", err)
	}
	if c.Server.HookRequestsPerMinute < 1 || c.Server.HookRequestsPerMinute > 1_000_000 {
		bad("server.hook_requests_per_minute", "must be between 1 and 1000000")
	}
	if c.Auth.SessionIdle < time.Minute {
		bad("auth.session_idle", "must be at least 1m")
	}
	if c.Auth.SessionLifetime < c.Auth.SessionIdle {
		bad("auth.session_lifetime", "must be at least auth.session_idle")
	}
	switch c.Auth.SecureCookies {
	case "auto", "always", "never":
	default:
		bad("auth.secure_cookies", "%q must be auto, always or never", c.Auth.SecureCookies)
	}
	if c.Auth.MaxFailures < 1 || c.Auth.MaxFailures > 1000 {
		bad("auth.max_failures", "must be between 1 and 1000")
	}
	if c.Auth.FailureWindow < time.Second {
		bad("auth.failure_window", "must be at least 1s")
	}
	if strings.TrimSpace(c.Storage.DataDir) == "" {
		bad("storage.data_dir", "must not be empty")
	}
	if c.Storage.MinFreeBytes < 0 {
		bad("storage.min_free_bytes", "must not be negative")
	}
	if c.Search.BatchSize < 1 || c.Search.BatchSize > 100000 {
		bad("search.batch_size", "must be between 1 and 100000")
	}
	if c.Search.PollInterval < time.Millisecond {
		bad("search.poll_interval", "must be at least 1ms")
	}
	if _, err := time.LoadLocation(c.Business.TimeZone); err != nil || c.Business.TimeZone == "" {
		bad("business.time_zone", "%q is not an IANA time zone", c.Business.TimeZone)
	}
	if _, ok := core.CurrencyExponent(c.Business.Currency); !ok {
		bad("business.currency", "%q is not a known ISO 4217 code like EUR", c.Business.Currency)
	}
	if cc := c.Business.DefaultCallingCode; cc != "" {
		if strings.Trim(cc, "0123456789") != "" || len(cc) > 3 || cc[0] == '0' {
			bad("business.default_calling_code", "%q must be 1 to 3 digits without '+', like 48", cc)
		}
	}
	if c.Import.BatchSize < 1 || c.Import.BatchSize > 10000 {
		bad("import.batch_size", "must be between 1 and 10000")
	}
	switch a := c.Analytics; a.Churn {
	case "inactivity", "cancellation", "p_alive":
	default:
		bad("analytics.churn", "%q must be inactivity, cancellation or p_alive", a.Churn)
	}
	if a := c.Analytics; a.ChurnDays < 1 || a.ChurnDays > 3650 {
		bad("analytics.churn_days", "must be between 1 and 3650")
	}
	// Written so that NaN fails too.
	if a := c.Analytics; !(a.PAliveThreshold > 0 && a.PAliveThreshold < 1) {
		bad("analytics.p_alive_threshold", "must be between 0 and 1 (exclusive)")
	}
	switch c.Analytics.Unit {
	case "day", "week":
	default:
		bad("analytics.unit", "%q must be day or week", c.Analytics.Unit)
	}
	if a := c.Analytics; a.HorizonDays < 1 || a.HorizonDays > 3650 {
		bad("analytics.horizon_days", "must be between 1 and 3650")
	}
	if a := c.Analytics; !(a.AnnualDiscountRate >= 0 && a.AnnualDiscountRate < 1) {
		bad("analytics.annual_discount_rate", "must be at least 0 and below 1 (0.10 is 10%%)")
	}
	if c.Analytics.RefitEvery < time.Minute {
		bad("analytics.refit_every", "must be at least 1m")
	}
	if c.Analytics.PollInterval < time.Millisecond {
		bad("analytics.poll_interval", "must be at least 1ms")
	}
	c.validatePlugins(bad)
	c.validateOutbox(bad)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q must be debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q must be text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}

// Location returns the business time zone (validated at load).
func (c *Config) Location() *time.Location {
	l, err := time.LoadLocation(c.Business.TimeZone)
	if err != nil {
		return time.UTC
	}
	return l
}

// validatePlugins checks the [plugins] section.
func (c *Config) validatePlugins(bad func(key, format string, args ...any)) {
	p := c.Plugins
	for _, n := range p.Builtin {
		if !pluginName(n) {
			bad("plugins.builtin", "%q is not a plugin name (lower-case letters, digits, '-')", n)
		}
	}
	for n, sum := range p.Pinned {
		if strings.ContainsAny(n, "/\\") || n == "" || n == "." || n == ".." {
			bad("plugins.pinned", "%q must be a file name in plugins.dir", n)
		}
		if len(sum) != 64 || strings.Trim(strings.ToLower(sum), "0123456789abcdef") != "" {
			bad("plugins.pinned", "%s: %q is not a SHA-256 in hex (64 characters; sha256sum prints it)", n, sum)
		}
	}
	if len(p.Pinned) > 0 && strings.TrimSpace(p.Dir) == "" {
		bad("plugins.dir", "must not be empty when plugins are pinned")
	}
	for _, e := range p.Env {
		if e == "" || strings.ContainsAny(e, "= ") {
			bad("plugins.env", "%q is not a variable name", e)
		}
	}
	if p.HealthInterval < 10*time.Millisecond {
		bad("plugins.health_interval", "must be at least 10ms")
	}
	if p.HealthTimeout < 10*time.Millisecond {
		bad("plugins.health_timeout", "must be at least 10ms")
	}
	if p.RestartBackoff < time.Millisecond || p.MaxBackoff < p.RestartBackoff {
		bad("plugins.restart_backoff", "must be at least 1ms and at most plugins.max_backoff")
	}
	if p.MaxCrashes < 1 {
		bad("plugins.max_crashes", "must be at least 1")
	}
	if p.EventPollInterval < 10*time.Millisecond {
		bad("plugins.event_poll_interval", "must be at least 10ms")
	}
	if p.TickInterval < 10*time.Millisecond {
		bad("plugins.tick_interval", "must be at least 10ms")
	}
	if p.CrashWindow < time.Second {
		bad("plugins.crash_window", "must be at least 1s")
	}
}

func pluginName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func (c *Config) validateOutbox(bad func(key, format string, args ...any)) {
	o := c.Outbox
	if o.Workers < 1 || o.Workers > 1024 {
		bad("outbox.workers", "must be between 1 and 1024")
	}
	if o.MaxAttempts < 1 || o.MaxAttempts > 100 {
		bad("outbox.max_attempts", "must be between 1 and 100")
	}
	if o.RetryBackoff < time.Millisecond {
		bad("outbox.retry_backoff", "must be at least 1ms")
	}
	if o.MaxRetryBackoff < o.RetryBackoff {
		bad("outbox.max_retry_backoff", "must be at least outbox.retry_backoff")
	}
	if o.SendTimeout < 100*time.Millisecond {
		bad("outbox.send_timeout", "must be at least 100ms")
	}
	if o.PollInterval < time.Millisecond {
		bad("outbox.poll_interval", "must be at least 1ms")
	}
	for ch, r := range o.Rates {
		// Written so that NaN fails too.
		if !(r > 0 && r <= 1e6) {
			bad("outbox.rates."+ch, "must be a number of messages per second above 0")
		}
	}
}
