package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNoConfigWorks(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:8080" || cfg.Storage.DataDir != "./data" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

// The example file must document every key with exactly its default, so
// the two can never drift apart.
func TestExampleMatchesDefaults(t *testing.T) {
	p := filepath.Join("..", "..", "config.example.toml")
	cfg, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("config.example.toml differs from Default():\n%+v\n%+v", cfg, Default())
	}
	var raw map[string]map[string]any
	if _, err := toml.DecodeFile(p, &raw); err != nil {
		t.Fatal(err)
	}
	rt := reflect.TypeOf(Config{})
	for i := 0; i < rt.NumField(); i++ {
		sec := rt.Field(i).Tag.Get("toml")
		st := rt.Field(i).Type
		for j := 0; j < st.NumField(); j++ {
			key := st.Field(j).Tag.Get("toml")
			if _, ok := raw[sec][key]; !ok {
				t.Errorf("config.example.toml does not document %s.%s", sec, key)
			}
		}
	}
}

func TestFileEnvPrecedence(t *testing.T) {
	p := writeFile(t, "[server]\nlisten = \"0.0.0.0:9000\"\n[log]\nlevel = \"debug\"\n")
	cfg, err := Load(p, []string{"RETAIN_SERVER__LISTEN=127.0.0.1:9999", "RETAIN_SEARCH__POLL_INTERVAL=1s",
		"RETAIN_METRICS__ENABLED=true", "RETAIN_IMPORT__BATCH_SIZE=10", "PATH=/bin", "RETAIN_CONFIG=x"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:9999" || cfg.Log.Level != "debug" || cfg.Search.PollInterval != time.Second ||
		!cfg.Metrics.Enabled || cfg.Import.BatchSize != 10 {
		t.Fatalf("got %+v", cfg)
	}
	if err := cfg.Set("storage.data_dir", "/tmp/x"); err != nil || cfg.Storage.DataDir != "/tmp/x" {
		t.Fatalf("Set: %v %q", err, cfg.Storage.DataDir)
	}
	if err := cfg.Set("storage.nope", "1"); err == nil {
		t.Fatal("Set accepted an unknown key")
	}
}

func TestTrustedProxies(t *testing.T) {
	c := Default()
	c.Server.TrustedProxies = []string{"127.0.0.1", " ::1 ", "10.0.0.0/8", "fd00::/8"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := c.Server.ProxyRanges()
	if err != nil || len(r) != 4 {
		t.Fatalf("%v %v", r, err)
	}
	for i, want := range []string{"127.0.0.1/32", "::1/128", "10.0.0.0/8", "fd00::/8"} {
		if r[i].String() != want {
			t.Errorf("%d: %s, want %s", i, r[i], want)
		}
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        []string
		wantKey    string
	}{
		{"unknown key", "[server]\nlisten = \"127.0.0.1:1\"\nlisten_adress = \"x\"\n", nil, "server.listen_adress"},
		{"unknown section", "[srever]\nlisten = \"x\"\n", nil, "srever"},
		{"wrong type", "[server]\nmax_body_bytes = \"big\"\n", nil, "max_body_bytes"},
		{"bad listen", "[server]\nlisten = \"8080\"\n", nil, "server.listen"},
		{"bad zone", "[business]\ntime_zone = \"Mars/Olympus\"\n", nil, "business.time_zone"},
		{"bad currency", "[business]\ncurrency = \"XYZ\"\n", nil, "business.currency"},
		{"bad calling code", "[business]\ndefault_calling_code = \"+48\"\n", nil, "business.default_calling_code"},
		{"bad level", "[log]\nlevel = \"loud\"\n", nil, "log.level"},
		{"bad proxy", "[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/33\"]\n", nil, "server.trusted_proxies"},
		{"proxy host name", "[server]\ntrusted_proxies = [\"proxy.local\"]\n", nil, "server.trusted_proxies"},
		{"no hooks", "[server]\nhook_requests_per_minute = 0\n", nil, "server.hook_requests_per_minute"},
		{"bad duration", "[search]\npoll_interval = \"soon\"\n", nil, "poll_interval"},
		{"broken toml", "[server\nlisten=", nil, "c.toml"},
		{"env unknown", "", []string{"RETAIN_SERVER__LISTN=x"}, "server.listn"},
		{"env no section", "", []string{"RETAIN_LISTEN=x"}, "RETAIN_LISTEN"},
		{"env bad int", "", []string{"RETAIN_IMPORT__BATCH_SIZE=many"}, "import.batch_size"},
		{"env bad bool", "", []string{"RETAIN_METRICS__ENABLED=yes please"}, "metrics.enabled"},
		{"env out of range", "", []string{"RETAIN_IMPORT__BATCH_SIZE=0"}, "import.batch_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ""
			if tc.file != "" {
				p = writeFile(t, tc.file)
			}
			_, err := Load(p, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.wantKey) {
				t.Fatalf("Load = %v; want an error naming %q", err, tc.wantKey)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml"), nil); err == nil {
		t.Fatal("a missing config file was accepted")
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("[server]\nlisten = \"127.0.0.1:1\"\n")
	f.Add("[log]\nlevel = 3\n")
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(t.TempDir(), "c.toml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(p, nil)
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Load accepted a config that Validate refuses: %v", verr)
			}
		}
	})
}
