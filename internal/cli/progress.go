package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/engine"
)

// progressView shows a reconcile's progress on the error stream: on a
// terminal a block with one line per component, redrawn in place; elsewhere
// (CI logs, pipes) one plain line per step that matters.
type progressView struct {
	w    io.Writer
	live bool
	// width is the terminal's, so that no line of the live block wraps
	// (a wrapped line would break the redraw).
	width int

	mu      sync.Mutex
	order   []string
	comps   map[string]*componentLine
	drawn   int // lines of the live block on screen
	stop    chan struct{}
	stopped chan struct{}
	frame   int
	now     func() time.Time
}

// componentLine is what the live view shows for one component.
type componentLine struct {
	name    string
	state   string // pending, applying, waiting, healthy, applied, failed, skipped
	total   int
	applied int
	detail  string
	start   time.Time
	elapsed time.Duration
	counts  engine.Counts
}

const spinner = `⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏`

func newProgressView(w io.Writer, live bool, width int) *progressView {
	if width <= 20 {
		width = 120
	}
	p := &progressView{w: w, live: live, width: width, comps: map[string]*componentLine{}, now: time.Now}
	if live {
		p.stop = make(chan struct{})
		p.stopped = make(chan struct{})
		go p.loop()
	}
	return p
}

// loop redraws the live block so that the spinner and the timers move
// while nothing else happens.
func (p *progressView) loop() {
	defer close(p.stopped)
	t := time.NewTicker(120 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.frame++
			p.redraw()
			p.mu.Unlock()
		}
	}
}

// Close stops the live redraw and leaves the final state on screen.
func (p *progressView) Close() {
	if !p.live {
		return
	}
	close(p.stop)
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redraw()
}

// Note prints a line above the live block (or just a line).
func (p *progressView) Note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, format+"\n", args...)
	p.redraw()
}

// Event takes one engine event.
func (p *progressView) Event(e engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var line string
	switch e.Type {
	case engine.RenderDone:
		line = "rendered " + e.Message
	case engine.RenderFailed:
		line = "✗ render failed"
	case engine.ComponentStarted:
		c := p.component(e.Component)
		c.state, c.start, c.total = "applying", e.Time, e.Objects
		line = fmt.Sprintf("%s: applying %s", e.Component, e.Message)
	case engine.ObjectApplied:
		c := p.component(e.Component)
		c.applied++
		switch apply.Action(e.Action) {
		case apply.Unchanged:
		case apply.Failed:
			line = fmt.Sprintf("%s: ✗ %s", e.Component, firstLine(errString(e.Err)))
		default:
			line = fmt.Sprintf("%s: %s %s", e.Component, e.Object, e.Action)
		}
	case engine.HookStarted:
		c := p.component(e.Component)
		c.detail = fmt.Sprintf("%s hook %s", e.Message, e.Object)
		line = fmt.Sprintf("%s: running %s hook %s", e.Component, e.Message, e.Object)
	case engine.HookDone:
		if e.Err != nil {
			line = fmt.Sprintf("%s: ✗ %s hook %s failed", e.Component, e.Message, e.Object)
		} else {
			line = fmt.Sprintf("%s: ✓ %s hook %s", e.Component, e.Message, e.Object)
		}
	case engine.Waiting:
		c := p.component(e.Component)
		c.state = "waiting"
		if len(e.Pending) > 0 {
			c.detail = e.Pending[0].String()
			if n := len(e.Pending) - 1; n > 0 {
				c.detail = fmt.Sprintf("%s (and %d more)", c.detail, n)
			}
			line = fmt.Sprintf("%s: waiting for %s: %s", e.Component, plural(len(e.Pending), "object"), c.detail)
		}
	case engine.ComponentDone:
		c := p.component(e.Component)
		c.state, c.counts, c.detail = string(e.State), e.Counts, ""
		if !c.start.IsZero() {
			c.elapsed = e.Time.Sub(c.start)
		}
		switch e.State {
		case engine.Skipped:
			c.detail = e.Message
			line = fmt.Sprintf("%s: - skipped: %s", e.Component, e.Message)
		case engine.Failed:
			c.detail = firstLine(errString(e.Err))
			line = fmt.Sprintf("%s: ✗ failed after %s: %s", e.Component, round(c.elapsed), c.detail)
		default:
			line = fmt.Sprintf("%s: ✓ %s (%s) in %s", e.Component, e.State, countsText(e.Counts), round(c.elapsed))
		}
	case engine.ObjectPruned:
		line = fmt.Sprintf("prune: %s %s", e.Object, e.Action)
		if e.Message != "" {
			line += ": " + e.Message
		}
	case engine.PruneSkipped:
		line = "prune: skipped, " + e.Message
	case engine.InventorySaved:
		line = "inventory saved (" + e.Message + ")"
	}
	if p.live {
		// The live block shows components; other lines go above it.
		if line != "" && e.Type != engine.ObjectApplied && e.Type != engine.Waiting &&
			e.Type != engine.ComponentStarted && e.Type != engine.ComponentDone {
			p.clear()
			fmt.Fprintln(p.w, line)
		}
		p.redraw()
		return
	}
	if line != "" {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progressView) component(name string) *componentLine {
	c, ok := p.comps[name]
	if !ok {
		c = &componentLine{name: name, state: "pending"}
		p.comps[name] = c
		p.order = append(p.order, name)
	}
	return c
}

// clear erases the live block so a plain line can be printed above it.
func (p *progressView) clear() {
	if !p.live || p.drawn == 0 {
		return
	}
	fmt.Fprintf(p.w, "\x1b[%dA\x1b[J", p.drawn)
	p.drawn = 0
}

// redraw repaints the live block.
func (p *progressView) redraw() {
	if !p.live {
		return
	}
	p.clear()
	width := 0
	for _, n := range p.order {
		width = max(width, len(n))
	}
	var b strings.Builder
	for _, n := range p.order {
		c := p.comps[n]
		b.WriteString(p.render(c, width))
		b.WriteByte('\n')
	}
	fmt.Fprint(p.w, b.String())
	p.drawn = len(p.order)
}

func (p *progressView) render(c *componentLine, width int) string {
	icon := string([]rune(spinner)[p.frame%len([]rune(spinner))])
	elapsed := c.elapsed
	switch c.state {
	case "healthy", "applied":
		icon = "✓"
	case "failed":
		icon = "✗"
	case "skipped":
		icon = "-"
	case "pending":
		icon = "·"
	default:
		elapsed = p.now().Sub(c.start)
	}
	detail := c.detail
	switch c.state {
	case "applying":
		if detail == "" {
			detail = fmt.Sprintf("%d/%d objects", c.applied, c.total)
		}
	case "healthy", "applied":
		detail = countsText(c.counts)
	}
	line := fmt.Sprintf("%s %-*s  %-8s  %s", icon, width, c.name, c.state, detail)
	if elapsed > 0 && c.state != "pending" && c.state != "skipped" {
		line += "  " + round(elapsed).String()
	}
	return truncate(line, p.width-1)
}

func countsText(c engine.Counts) string {
	s := fmt.Sprintf("%d created, %d changed, %d unchanged", c.Created, c.Changed(), c.Unchanged)
	if c.Pruned > 0 {
		s += fmt.Sprintf(", %d pruned", c.Pruned)
	}
	return s
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// plural writes "1 object" or "3 objects".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
