package kindtest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/template"
	"time"
)

// MaybeRun plays the fake client and exits when the test binary was
// started as one (by the script Install writes); otherwise it returns.
// TestMain calls it first.
func MaybeRun() {
	client := os.Getenv(envClient)
	if client == "" {
		return
	}
	path := os.Getenv(envState)
	if f, err := os.OpenFile(os.Getenv(envLog), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		fmt.Fprintln(f, strings.TrimSpace(client+" "+strings.Join(os.Args[1:], " ")))
		f.Close()
	}
	c := &call{client: client, args: os.Args[1:], stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	unlock := lockState(path)
	c.s = readState(path)
	code := c.run()
	writeState(path, c.s)
	unlock()
	if c.sleep > 0 {
		time.Sleep(c.sleep)
	}
	os.Exit(code)
}

// call is one invocation of the fake client.
type call struct {
	client         string
	args           []string
	s              *State
	stdin          io.Reader
	stdout, stderr io.Writer
	sleep          time.Duration
}

func (c *call) fail(code int, format string, args ...any) int {
	fmt.Fprintf(c.stderr, format+"\n", args...)
	return code
}

func (c *call) run() int {
	if len(c.args) == 0 {
		return c.fail(1, "no command")
	}
	if c.args[0] == "-v" || c.args[0] == "--version" {
		name := c.client
		if name == "docker" {
			name = "Docker"
		}
		fmt.Fprintf(c.stdout, "%s version %s\n", name, c.s.Version)
		return 0
	}
	if c.s.Version == "" {
		return c.fail(1, "%s", c.s.Down)
	}
	switch c.args[0] {
	case "info":
		return c.info()
	case "ps":
		return c.ps()
	case "inspect":
		return c.inspect(c.args[1:])
	case "image":
		return c.image()
	case "pull":
		if c.s.PullHangs {
			c.sleep = 5 * time.Second
			return 0
		}
		c.s.Images[c.args[1]] = "sha256:" + c.args[1]
		return 0
	case "network":
		return c.network()
	case "run":
		return c.runContainer()
	case "logs":
		fmt.Fprintln(c.stdout, "Reached target Multi-User System.")
		return 0
	case "exec":
		return c.exec()
	case "start", "stop":
		return c.startStop()
	case "rm":
		for _, n := range c.args[1:] {
			delete(c.s.Containers, n)
		}
		return 0
	case "save":
		return c.save()
	}
	return 0
}

func (c *call) info() int {
	if c.s.Starting > 0 {
		c.s.Starting--
		return c.fail(1, "%s", c.s.Down)
	}
	data := map[string]any{
		"ServerVersion": c.s.Version, "Version": map[string]any{"Version": c.s.Version},
		"NCPU": c.s.NCPU, "MemTotal": c.s.MemTotal,
		"Host":         map[string]any{"CPUs": c.s.NCPU, "MemTotal": c.s.MemTotal},
		"CgroupDriver": "systemd", "CgroupVersion": "2", "MemoryLimit": true, "PidsLimit": true, "CPUShares": true,
		"Driver": "overlay2", "DriverStatus": []any{}, "SecurityOptions": []any{},
	}
	return c.format(flagValue(c.args, "--format", "-f"), data)
}

// format prints data through the Go template tmpl, as the clients do.
func (c *call) format(tmpl string, data any) int {
	if tmpl == "" {
		b, _ := json.Marshal(data)
		fmt.Fprintln(c.stdout, string(b))
		return 0
	}
	t, err := template.New("").Funcs(template.FuncMap{"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}}).Parse(tmpl)
	if err != nil {
		return c.fail(1, "template parsing error: %v", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return c.fail(1, "template: %v", err)
	}
	// A missing map key prints empty, as it does for the clients' typed maps.
	fmt.Fprintln(c.stdout, strings.ReplaceAll(b.String(), "<no value>", ""))
	return 0
}

// psRow is a container as `ps --format` sees it.
type psRow struct {
	Names, State, Image string
	labels              map[string]string
}

// Label is ps's {{.Label "key"}}.
func (r psRow) Label(key string) string { return r.labels[key] }

func (c *call) ps() int {
	filters := flagValues(c.args, "--filter")
	for _, ct := range c.s.sorted() {
		if !matches(ct, filters) {
			continue
		}
		row := psRow{Names: ct.Name, State: ct.Status, Image: ct.Image, labels: ct.Labels}
		if code := c.format(flagValue(c.args, "--format"), row); code != 0 {
			return code
		}
	}
	return 0
}

func matches(ct *Container, filters []string) bool {
	for _, f := range filters {
		key, val, _ := strings.Cut(f, "=")
		switch key {
		case "label":
			k, v, hasValue := strings.Cut(val, "=")
			got, ok := ct.Labels[k]
			if !ok || hasValue && got != v {
				return false
			}
		case "name":
			if "^"+ct.Name+"$" != val && ct.Name != val {
				return false
			}
		}
	}
	return true
}

// inspectData is a container as `inspect` prints it.
func inspectData(ct *Container) map[string]any {
	nets := map[string]any{}
	for _, n := range ct.Networks {
		nets[n] = map[string]any{"IPAddress": "172.18.0.2", "GlobalIPv6Address": ""}
	}
	ports := map[string]any{}
	for p, b := range ct.Ports {
		ports[p] = b
	}
	d := map[string]any{
		"Name":            "/" + ct.Name,
		"State":           map[string]any{"Status": ct.Status, "Running": ct.Status == "running"},
		"Config":          map[string]any{"Image": ct.Image, "Labels": ct.Labels},
		"HostConfig":      map[string]any{"PortBindings": ports, "Binds": ct.Binds},
		"NetworkSettings": map[string]any{"Ports": ports, "Networks": nets},
	}
	// Round-trip through JSON, so that templates see what a client parses.
	b, _ := json.Marshal(d)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func (c *call) inspect(args []string) int {
	tmpl := flagValue(args, "--format", "-f")
	names := positional(args, "--format", "-f", "--type")
	if flagValue(args, "--type") == "image" {
		for _, n := range names {
			if _, ok := c.s.Images[n]; !ok {
				return c.fail(1, "Error: No such image: %s", n)
			}
		}
		fmt.Fprintln(c.stdout, "[]")
		return 0
	}
	var all []any
	for _, n := range names {
		ct, ok := c.s.Containers[n]
		if !ok {
			return c.fail(1, "Error: No such object: %s", n)
		}
		if tmpl != "" {
			if code := c.format(tmpl, inspectData(ct)); code != 0 {
				return code
			}
			continue
		}
		all = append(all, inspectData(ct))
	}
	if tmpl == "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		fmt.Fprintln(c.stdout, string(b))
	}
	return 0
}

func (c *call) image() int {
	if len(c.args) < 2 || c.args[1] != "inspect" {
		return 0
	}
	names := positional(c.args[2:], "--format", "-f")
	for _, n := range names {
		id, ok := c.s.Images[n]
		if !ok {
			return c.fail(1, "Error response from daemon: No such image: %s", n)
		}
		if code := c.format(flagValue(c.args, "--format", "-f"), map[string]any{"Id": id}); code != 0 {
			return code
		}
	}
	return 0
}

func (c *call) network() int {
	if len(c.args) < 2 {
		return 0
	}
	switch c.args[1] {
	case "ls":
		for _, n := range c.s.Networks {
			if f := flagValue(c.args, "--filter"); f == "" || f == "name=^"+n+"$" {
				fmt.Fprintln(c.stdout, n)
			}
		}
	case "create":
		c.s.Networks = append(c.s.Networks, c.args[len(c.args)-1])
	case "connect":
		ct, ok := c.s.Containers[c.args[len(c.args)-1]]
		if !ok {
			return c.fail(1, "Error: No such container: %s", c.args[len(c.args)-1])
		}
		ct.Networks = append(ct.Networks, c.args[len(c.args)-2])
	case "inspect":
		if flagValue(c.args, "-f") != "" {
			fmt.Fprintln(c.stdout, "fc00:f853:ccd:e793::/64 172.18.0.0/16")
			return 0
		}
		fmt.Fprintln(c.stdout, `[{"Id":"kind","Containers":{}}]`)
	}
	return 0
}

// runFlagsWithValue are the flags of `run` that take a separate value.
var runFlagsWithValue = []string{"--name", "--hostname", "--label", "--security-opt", "--tmpfs", "--volume", "-e", "--net", "--network", "-p", "--publish", "-v", "--device"}

func (c *call) runContainer() int {
	if c.s.RunFails != "" {
		return c.fail(125, "%s", c.s.RunFails)
	}
	ct := &Container{Status: "running", Labels: map[string]string{}, Ports: map[string][]Binding{}, Files: map[string]string{}, Images: map[string]string{}}
	args := c.args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			ct.Image = a
			break
		}
		name, val, inline := strings.Cut(a, "=")
		if !inline && containsStr(runFlagsWithValue, name) && i+1 < len(args) {
			i++
			val = args[i]
		}
		switch name {
		case "--name":
			ct.Name = val
		case "--label":
			k, v, _ := strings.Cut(val, "=")
			ct.Labels[k] = v
		case "--net", "--network":
			ct.Networks = append(ct.Networks, val)
		case "--publish", "-p":
			c.publish(ct, val)
		case "--volume", "-v":
			if strings.Contains(val, ":") {
				ct.Binds = append(ct.Binds, val)
			}
		}
	}
	if _, ok := c.s.Containers[ct.Name]; ok {
		return c.fail(125, "docker: Error response from daemon: Conflict. The container name \"/%s\" is already in use.", ct.Name)
	}
	c.s.Images[ct.Image] = "sha256:" + ct.Image
	c.s.Add(ct)
	return 0
}

// publish records -p ADDR:HOSTPORT:PORT/PROTO; the API server's port
// leads to the test's fake API server.
func (c *call) publish(ct *Container, spec string) {
	i := strings.LastIndex(spec, ":")
	port, proto, _ := strings.Cut(spec[i+1:], "/")
	host := spec[:i]
	j := strings.LastIndex(host, ":")
	b := Binding{HostIP: host[:max(j, 0)], HostPort: host[j+1:]}
	if port == "6443" && c.s.APIServer != "" {
		addr, p, _ := strings.Cut(c.s.APIServer, ":")
		b = Binding{HostIP: addr, HostPort: p}
	}
	key := port + "/" + strings.ToLower(cmpOr(proto, "tcp"))
	ct.Ports[key] = append(ct.Ports[key], b)
}

func (c *call) startStop() int {
	for _, n := range c.args[1:] {
		ct, ok := c.s.Containers[n]
		if !ok {
			return c.fail(1, "Error response from daemon: No such container: %s", n)
		}
		ct.Status = map[string]string{"start": "running", "stop": "exited"}[c.args[0]]
	}
	return 0
}

func (c *call) exec() int {
	args := c.args[1:]
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		if args[0] == "-e" {
			args = args[1:]
		}
		args = args[1:]
	}
	if len(args) < 2 {
		return c.fail(1, "exec: missing container or command")
	}
	ct, ok := c.s.Containers[args[0]]
	switch {
	case !ok:
		return c.fail(1, "Error response from daemon: No such container: %s", args[0])
	case ct.Status != "running":
		return c.fail(1, "Error response from daemon: container %s is not running", args[0])
	}
	return c.inNode(ct, args[1], args[2:])
}

// inNode runs a command inside a node container.
func (c *call) inNode(ct *Container, cmd string, args []string) int {
	switch {
	case cmd == "cat":
		return c.cat(ct, args[0])
	case cmd == "cp" && len(args) == 2 && args[0] == "/dev/stdin":
		b, _ := io.ReadAll(c.stdin)
		ct.Files[args[1]] = string(b)
	case cmd == "crictl" && len(args) == 2 && args[0] == "inspecti":
		id, ok := ct.Images[args[1]]
		if !ok {
			return c.fail(1, "no such image %q present", args[1])
		}
		b, _ := json.Marshal(map[string]any{"status": map[string]any{"id": id, "repoTags": []string{args[1]}}})
		fmt.Fprintln(c.stdout, string(b))
	case cmd == "containerd" && len(args) == 2 && args[1] == "dump":
		fmt.Fprint(c.stdout, "version = 2\n\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n      snapshotter = \"overlayfs\"\n")
	case cmd == "ctr" && containsStr(args, "import"):
		return c.importArchive(ct)
	}
	return 0
}

func (c *call) cat(ct *Container, path string) int {
	if content, ok := ct.Files[path]; ok {
		fmt.Fprint(c.stdout, content)
		return 0
	}
	switch path {
	case "/kind/version":
		fmt.Fprintln(c.stdout, "v1.37.0")
	case "/etc/kubernetes/admin.conf":
		fmt.Fprint(c.stdout, c.s.AdminConf)
	case "/etc/containerd/config.toml":
		fmt.Fprint(c.stdout, "version = 2\n")
	default:
		return c.fail(1, "cat: %s: No such file or directory", path)
	}
	return 0
}

// save writes the images as an archive whose manifest.json names them,
// the part of `docker save`'s format the import below reads.
func (c *call) save() int {
	out := flagValue(c.args, "-o")
	var entries []map[string]any
	for _, img := range positional(c.args[1:], "-o") {
		id, ok := c.s.Images[img]
		if !ok {
			return c.fail(1, "Error response from daemon: reference does not exist: %s", img)
		}
		entries = append(entries, map[string]any{"Config": id, "RepoTags": []string{img}})
	}
	manifest, _ := json.Marshal(entries)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	_ = tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))})
	_, _ = tw.Write(manifest)
	_ = tw.Close()
	if err := os.WriteFile(out, b.Bytes(), 0o600); err != nil {
		return c.fail(1, "save: %v", err)
	}
	return 0
}

func (c *call) importArchive(ct *Container) int {
	tr := tar.NewReader(c.stdin)
	for {
		h, err := tr.Next()
		if err != nil {
			return c.fail(1, "ctr: archive has no manifest.json: %v", err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var entries []struct {
			Config   string
			RepoTags []string
		}
		if err := json.NewDecoder(tr).Decode(&entries); err != nil {
			return c.fail(1, "ctr: %v", err)
		}
		for _, e := range entries {
			for _, t := range e.RepoTags {
				ct.Images[t] = e.Config
			}
		}
		return 0
	}
}

// flagValue returns the value of the first of names given in args, as
// "--name value" or "--name=value".
func flagValue(args []string, names ...string) string {
	for i, a := range args {
		for _, n := range names {
			if a == n && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v
			}
		}
	}
	return ""
}

// flagValues returns every value of flag name.
func flagValues(args []string, name string) []string {
	var out []string
	for i, a := range args {
		if a == name && i+1 < len(args) {
			out = append(out, args[i+1])
		} else if v, ok := strings.CutPrefix(a, name+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// positional returns the arguments that are neither flags nor the value
// of one of withValue.
func positional(args []string, withValue ...string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case containsStr(withValue, a):
			i++
		case strings.HasPrefix(a, "-"):
		default:
			out = append(out, a)
		}
	}
	return out
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
