package embedded

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func needProc(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs a proc filesystem")
	}
}

// startSleeper starts a process that lives until killed and returns it
// with its identity; it is killed and reaped when the test ends.
func startSleeper(t *testing.T, script string) (*exec.Cmd, proc) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	token, err := startToken(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, proc{PID: cmd.Process.Pid, Token: token}
}

func TestProcIdentity(t *testing.T) {
	needProc(t)
	self, err := selfProc()
	if err != nil {
		t.Fatal(err)
	}
	if self.Token == "" || !self.alive() {
		t.Fatalf("this process %+v is not alive by its own token", self)
	}

	cmd, sleeper := startSleeper(t, "exec sleep 30")
	if !sleeper.alive() {
		t.Fatal("a running process is not alive")
	}
	// The same pid started at another time: a pid reused by another
	// program after the serve process died.
	reused := proc{PID: sleeper.PID, Token: sleeper.Token + "0"}
	if reused.alive() {
		t.Error("a pid with another start time counts as alive")
	}
	if (proc{PID: sleeper.PID, Token: "another-boot:" + strings.Split(sleeper.Token, ":")[1]}).alive() {
		t.Error("a pid from another boot counts as alive")
	}

	// Killed but not reaped: a zombie is not a running serve process.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sleeper.alive() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if sleeper.alive() {
		t.Error("a killed (zombie) process counts as alive")
	}
	_ = cmd.Wait()
	if sleeper.alive() {
		t.Error("a reaped process counts as alive")
	}
}

func TestTerminate(t *testing.T) {
	needProc(t)
	tests := []struct {
		name   string
		script string
		// slow is whether the process must be killed after the grace period.
		slow bool
	}{
		{"stops on SIGTERM", "exec sleep 30", false},
		{"ignores SIGTERM", `trap "" TERM; exec sleep 30`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not reaped until the test ends: a zombie counts as gone, as
			// it must for a serve process this process started.
			_, p := startSleeper(t, tt.script)
			time.Sleep(100 * time.Millisecond) // let the trap be set
			const grace = 500 * time.Millisecond
			began := time.Now()
			if err := terminate(context.Background(), p, grace); err != nil {
				t.Fatal(err)
			}
			took := time.Since(began)
			if p.alive() {
				t.Fatal("process alive after terminate")
			}
			if tt.slow && took < grace {
				t.Errorf("a process ignoring SIGTERM was gone after %v, before the grace period", took)
			}
			if !tt.slow && took >= grace {
				t.Errorf("a process that stops on SIGTERM took %v, the whole grace period", took)
			}
		})
	}
}

func TestReadPID(t *testing.T) {
	tests := []struct {
		content string
		want    proc
		err     string
	}{
		{"123 boot:456\n", proc{PID: 123, Token: "boot:456"}, ""},
		{"123\n", proc{PID: 123}, ""},
		{"", proc{}, `want "PID TOKEN"`},
		{"1 2 3", proc{}, `want "PID TOKEN"`},
		{"abc boot:1", proc{}, `"abc" is not a process id`},
		{"-5 boot:1", proc{}, `"-5" is not a process id`},
		{"0 boot:1", proc{}, `"0" is not a process id`},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.content), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), pidFile)
			writeTestFile(t, path, tt.content)
			got, err := readPID(path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), path) {
					t.Fatalf("readPID = %+v, %v; want an error naming %s and saying %q", got, err, path, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("readPID = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// fakeProcess is a process of a fake proc filesystem: its command line,
// its state (field 3 of stat) and its number of threads (field 20).
type fakeProcess struct {
	cmdline []string
	state   string
	threads int
}

// fakeProc makes a proc filesystem with the given processes and points
// procRoot at it for the test.
func fakeProc(t *testing.T, procs map[int]fakeProcess) {
	t.Helper()
	root := t.TempDir()
	writeTestFile(t, filepath.Join(root, "sys/kernel/random/boot_id"), "boot-1\n")
	writeTestFile(t, filepath.Join(root, "self/stat"), "1 (self) S 0")
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		writeTestFile(t, filepath.Join(dir, "cmdline"), strings.Join(p.cmdline, "\x00")+"\x00")
		// A command name with a space and a parenthesis, as a process
		// can name itself; the start time (field 22) is 1000+pid.
		fields := []string{p.state}
		for i := 4; i <= 21; i++ {
			fields = append(fields, "0")
		}
		fields[20-3] = strconv.Itoa(p.threads)
		fields = append(fields, strconv.Itoa(1000+pid), "0")
		writeTestFile(t, filepath.Join(dir, "stat"), strconv.Itoa(pid)+" (envctl x) y) "+strings.Join(fields, " "))
	}
	old := procRoot
	procRoot = root
	t.Cleanup(func() { procRoot = old })
}

func TestFindServers(t *testing.T) {
	type p = fakeProcess
	root := "/state/envctl"
	serve := append([]string{"/usr/local/bin/envctl"}, serveArgs(root, "demo")...)
	fakeProc(t, map[int]p{
		100: {append(serve, "--ready-fd", "3"), "S", 12},
		101: {append([]string{"/usr/local/bin/envctl"}, serveArgs(root, "other")...), "S", 12},
		102: {serve, "Z", 1},
		103: {append([]string{"/usr/local/bin/envctl"}, serveArgs("/elsewhere", "demo")...), "S", 12},
		104: {[]string{"/usr/local/bin/envctl", "cluster", "create", "demo"}, "R", 12},
		105: {serve, "R", 12},
	})
	got := findServers(root, "demo")
	want := []proc{{PID: 100, Token: "boot-1:1100"}, {PID: 105, Token: "boot-1:1105"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findServers (-want +got):\n%s", diff)
	}
}

// A killed process whose main thread is a zombie while its other threads
// are still torn down is alive (it holds its files) but not running (it
// serves nothing): Ensure must neither call it running nor start another
// serve process beside it.
func TestProcStatus(t *testing.T) {
	fakeProc(t, map[int]fakeProcess{
		100: {state: "S", threads: 12},
		101: {state: "R", threads: 1},
		102: {state: "Z", threads: 3},
		103: {state: "Z", threads: 1},
		104: {state: "Z", threads: 0},
		105: {state: "X", threads: 2},
	})
	tests := []struct {
		name    string
		p       proc
		want    procStatus
		alive   bool
		running bool
	}{
		{"sleeping", proc{PID: 100, Token: "boot-1:1100"}, procRunning, true, true},
		{"running", proc{PID: 101, Token: "boot-1:1101"}, procRunning, true, true},
		{"zombie leader, threads exiting", proc{PID: 102, Token: "boot-1:1102"}, procExiting, true, false},
		{"zombie, last thread gone", proc{PID: 103, Token: "boot-1:1103"}, procGone, false, false},
		{"zombie, no thread", proc{PID: 104, Token: "boot-1:1104"}, procGone, false, false},
		{"dead, threads exiting", proc{PID: 105, Token: "boot-1:1105"}, procExiting, true, false},
		{"reused pid", proc{PID: 100, Token: "boot-1:999"}, procGone, false, false},
		{"reused pid of an exiting process", proc{PID: 102, Token: "boot-0:1102"}, procGone, false, false},
		{"no such process", proc{PID: 106, Token: "boot-1:1106"}, procGone, false, false},
		{"no pid", proc{}, procGone, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.status(); got != tt.want {
				t.Errorf("status = %d, want %d", got, tt.want)
			}
			if got := tt.p.alive(); got != tt.alive {
				t.Errorf("alive = %v, want %v", got, tt.alive)
			}
			if got := tt.p.running(); got != tt.running {
				t.Errorf("running = %v, want %v", got, tt.running)
			}
		})
	}
}
