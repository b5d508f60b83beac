package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/retain-crm/retain/core"
)

// Spec says how to start one plugin.
type Spec struct {
	Name    string
	Builtin bool
	// Path is the executable; Args its arguments (for a built-in: the host
	// binary and "plugin", "serve", NAME).
	Path string
	Args []string
	// SHA256 (hex), when set, must match the executable's content.
	SHA256 string
	// Env is extra NAME=value pairs for this plugin (tests use it to tell a
	// re-executed test binary which plugin to serve).
	Env []string
}

// BuiltinSpec starts built-in name by re-executing exe (os.Executable(),
// not os.Args[0], which may be relative or a name on PATH).
func BuiltinSpec(exe, name string) Spec {
	return Spec{Name: name, Builtin: true, Path: exe, Args: []string{"plugin", "serve", name}}
}

// ThirdPartySpecs lists the pinned executables of dir. A pinned file that
// is missing is reported; an unpinned file is ignored (it never runs).
func ThirdPartySpecs(dir string, pinned map[string]string) ([]Spec, error) {
	var specs []Spec
	for name, sum := range pinned {
		// Absolute, because the plugin runs with its folder as working
		// directory: a relative path (the default dir is "./plugins") would
		// be looked up from there and not found.
		p, err := filepath.Abs(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", name, err)
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w: plugin %s is pinned but %s: %v", core.ErrNotFound, name, p, err)
		}
		specs = append(specs, Spec{Name: strings.TrimSuffix(name, filepath.Ext(name)), Path: p, SHA256: strings.ToLower(sum)})
	}
	return specs, nil
}

// Unpinned lists the executable files in dir that no pin names: they never
// run, and the operator who put them there is better told why.
func Unpinned(dir string, pinned map[string]string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		if _, ok := pinned[e.Name()]; !ok {
			out = append(out, e.Name())
		}
	}
	return out
}

// errRefused marks a plugin that must not run again until its
// configuration changes (a tampered binary): the supervisor disables it
// instead of retrying.
type errRefused struct{ msg string }

func (e errRefused) Error() string { return e.msg }

// verify checks the executable against its pin. It returns the actual sum.
func verify(s Spec) (string, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return "", errRefused{fmt.Sprintf("executable %s: %v", s.Path, err)}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", errRefused{fmt.Sprintf("executable %s: %v", s.Path, err)}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if s.SHA256 != "" && sum != s.SHA256 {
		return sum, errRefused{fmt.Sprintf("refusing %s: its SHA-256 is %s but plugins.pinned says %s; "+
			"if you replaced it on purpose, update the pin", s.Path, sum, s.SHA256)}
	}
	return sum, nil
}

// command builds the plugin's process: only allowlisted variables of the
// host's environment (no secret leaks), its own process group (so stopping
// it stops its children), and SIGKILL when the host dies.
func command(s Spec, hostEnv []string, allow []string) *exec.Cmd {
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = allowEnv(hostEnv, allow)
	cmd.Env = append(cmd.Env, s.Env...)
	cmd.Dir = filepath.Dir(s.Path)
	// Pdeathsig fires when the thread that started the child exits; Go keeps
	// its threads for the life of the process unless a goroutine exits while
	// locked to one, which go-plugin does not do. Go plugins also watch
	// their parent (sdk.Serve exits when it is gone).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func allowEnv(env []string, allow []string) []string {
	var out []string
	for _, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		for _, a := range allow {
			if name == a {
				out = append(out, kv)
				break
			}
		}
	}
	return out
}

// killGroup kills the plugin's whole process group (its children too).
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
