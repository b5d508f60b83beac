package pluginpb_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeIsCurrent regenerates the Go code from plugin.proto into a
// temporary folder and compares it with the committed files. It needs protoc
// and the two pinned generators (see gen.sh); without them it skips, saying
// what to install.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	gobin := filepath.Join(goEnv(t, "GOPATH"), "bin")
	for _, tool := range []string{"protoc", "protoc-gen-go", "protoc-gen-go-grpc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err2 := os.Stat(filepath.Join(gobin, tool)); err2 != nil {
				t.Skipf("%s not installed; to check the generated code: apt-get install protobuf-compiler, then the go install lines in gen.sh", tool)
			}
		}
	}
	dir := t.TempDir()
	out, err := exec.Command("sh", "gen.sh", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, out)
	}
	for _, f := range []string{"plugin.pb.go", "plugin_grpc.pb.go"} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what plugin.proto generates; run plugins/proto/gen.sh and commit the result", f)
		}
	}
}

func goEnv(t *testing.T, name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSpace(out))
}
