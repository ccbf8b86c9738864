package ui

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/engine"
)

// Progress is the one progress printer of the CLI: every command that
// reports steps or a reconcile (cluster create/delete, up, apply, down)
// writes through it to the error stream. On a terminal it keeps a block at
// the bottom, redrawn in place: one line per component and a spinner line per
// step under way; finished steps and notes are printed above the block. Elsewhere
// (CI logs, pipes) it prints one plain line per step that matters, so that a
// long step such as an image pull does not look like a hang.
type Progress struct {
	w    io.Writer
	live bool
	// width is the terminal's, so that no line of the live block wraps
	// (a wrapped line would break the redraw).
	width int

	mu      sync.Mutex
	order   []string
	comps   map[string]*componentLine
	steps   []*stepLine // steps under way, in the order they began
	drawn   int         // lines of the live block on screen
	stop    chan struct{}
	stopped chan struct{}
	frame   int
	now     func() time.Time
	closed  bool
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

// stepLine is a step under way, such as "Creating cluster".
type stepLine struct {
	name  string
	start time.Time
}

const spinner = `⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏`

// NewProgress makes a progress view on w: live (redrawn in place, in
// colour) on a terminal of width columns (0: unknown), plain lines
// otherwise.
func NewProgress(w io.Writer, live bool, width int) *Progress {
	if width <= 20 {
		width = 120
	}
	p := &Progress{w: w, live: live, width: width, comps: map[string]*componentLine{}, now: time.Now}
	if live {
		p.stop = make(chan struct{})
		p.stopped = make(chan struct{})
		go p.loop()
	}
	return p
}

// loop redraws the live block so that the spinner and the timers move
// while nothing else happens.
func (p *Progress) loop() {
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

// Close ends the steps left open as interrupted, stops the live redraw and
// leaves the final state of the components on screen, so that the screen
// does not keep a spinner that will never move again.
func (p *Progress) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	left := append([]*stepLine(nil), p.steps...)
	p.mu.Unlock()
	for _, s := range left {
		p.endStep(s, fmt.Errorf("interrupted"))
	}
	if !p.live {
		return
	}
	close(p.stop)
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redraw()
}

// Step implements cluster.Progress: it shows the step while it runs and a
// line ending in ✓ or ✗ with the time it took when it ends. The returned
// function ends the step once; later calls do nothing.
func (p *Progress) Step(name string) func(error) {
	s := &stepLine{name: name, start: p.now()}
	p.mu.Lock()
	p.steps = append(p.steps, s)
	if p.live {
		p.redraw()
	} else {
		fmt.Fprintf(p.w, "• %s\n", name)
	}
	p.mu.Unlock()

	var once sync.Once
	return func(err error) {
		once.Do(func() { p.endStep(s, err) })
	}
}

func (p *Progress) endStep(s *stepLine, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, o := range p.steps {
		if o == s {
			p.steps = append(p.steps[:i], p.steps[i+1:]...)
			break
		}
	}
	mark, paint := "✓", "\x1b[32m"
	if err != nil {
		mark, paint = "✗", "\x1b[31m"
	}
	if p.live {
		// Live implies that colour is allowed (see NewProgress).
		mark = paint + mark + "\x1b[0m"
	}
	p.clear()
	fmt.Fprintf(p.w, "%s %s (%s)\n", mark, s.name, RoundDuration(p.now().Sub(s.start)))
	p.redraw()
}

// Note prints a line above the live block (or just a line).
func (p *Progress) Note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, format+"\n", args...)
	p.redraw()
}

// Event takes one engine event.
func (p *Progress) Event(e engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.eventLine(e)
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

// eventLine is the plain line of e ("" for none), after updating the
// component e is about.
func (p *Progress) eventLine(e engine.Event) string {
	switch e.Type {
	case engine.RenderDone:
		return "rendered " + e.Message
	case engine.RenderFailed:
		return "✗ render failed"
	case engine.ObjectPruned:
		line := fmt.Sprintf("prune: %s %s", e.Object, e.Action)
		if e.Message != "" {
			line += ": " + e.Message
		}
		return line
	case engine.PruneSkipped:
		return "prune: skipped, " + e.Message
	case engine.InventorySaved:
		return "inventory saved (" + e.Message + ")"
	case engine.Notice:
		return "note: " + e.Message
	case engine.ComponentDone:
		return p.componentDone(e)
	}
	return p.componentStep(e)
}

// componentStep updates the component of an event within its run and
// returns the event's line.
func (p *Progress) componentStep(e engine.Event) string {
	switch e.Type {
	case engine.ComponentStarted:
		c := p.component(e.Component)
		c.state, c.start, c.total = "applying", e.Time, e.Objects
		return fmt.Sprintf("%s: applying %s", e.Component, e.Message)
	case engine.ObjectApplied:
		p.component(e.Component).applied++
		switch apply.Action(e.Action) {
		case apply.Unchanged:
			return ""
		case apply.Failed:
			return fmt.Sprintf("%s: ✗ %s", e.Component, FirstLine(ErrString(e.Err)))
		}
		return fmt.Sprintf("%s: %s %s", e.Component, e.Object, e.Action)
	case engine.HookStarted:
		p.component(e.Component).detail = fmt.Sprintf("%s hook %s", e.Message, e.Object)
		return fmt.Sprintf("%s: running %s hook %s", e.Component, e.Message, e.Object)
	case engine.HookDone:
		if e.Err != nil {
			return fmt.Sprintf("%s: ✗ %s hook %s failed", e.Component, e.Message, e.Object)
		}
		return fmt.Sprintf("%s: ✓ %s hook %s", e.Component, e.Message, e.Object)
	case engine.Waiting:
		c := p.component(e.Component)
		c.state = "waiting"
		if len(e.Pending) == 0 {
			return ""
		}
		c.detail = e.Pending[0].String()
		if n := len(e.Pending) - 1; n > 0 {
			c.detail = fmt.Sprintf("%s (and %d more)", c.detail, n)
		}
		return fmt.Sprintf("%s: waiting for %s: %s", e.Component, Plural(len(e.Pending), "object"), c.detail)
	}
	return ""
}

// componentDone records how a component ended and returns its line.
func (p *Progress) componentDone(e engine.Event) string {
	c := p.component(e.Component)
	c.state, c.counts, c.detail = string(e.State), e.Counts, ""
	if !c.start.IsZero() {
		c.elapsed = e.Time.Sub(c.start)
	}
	switch e.State {
	case engine.Skipped:
		c.detail = e.Message
		return fmt.Sprintf("%s: - skipped: %s", e.Component, e.Message)
	case engine.Failed:
		c.detail = FirstLine(ErrString(e.Err))
		return fmt.Sprintf("%s: ✗ failed after %s: %s", e.Component, Round(c.elapsed), c.detail)
	}
	return fmt.Sprintf("%s: ✓ %s (%s) in %s", e.Component, e.State, CountsText(e.Counts), Round(c.elapsed))
}

func (p *Progress) component(name string) *componentLine {
	c, ok := p.comps[name]
	if !ok {
		c = &componentLine{name: name, state: "pending"}
		p.comps[name] = c
		p.order = append(p.order, name)
	}
	return c
}

// clear erases the live block so a plain line can be printed above it.
func (p *Progress) clear() {
	if !p.live || p.drawn == 0 {
		return
	}
	fmt.Fprintf(p.w, "\x1b[%dA\x1b[J", p.drawn)
	p.drawn = 0
}

// redraw repaints the live block: the components, then the steps under way.
func (p *Progress) redraw() {
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
	for _, s := range p.steps {
		line := fmt.Sprintf("%s %s (%s)", p.spinnerFrame(), s.name, RoundDuration(p.now().Sub(s.start)))
		b.WriteString(truncate(line, p.width-1))
		b.WriteByte('\n')
	}
	fmt.Fprint(p.w, b.String())
	p.drawn = len(p.order) + len(p.steps)
}

// spinnerFrame is the spinner's current frame.
func (p *Progress) spinnerFrame() string {
	frames := []rune(spinner)
	return string(frames[p.frame%len(frames)])
}

func (p *Progress) render(c *componentLine, width int) string {
	icon := p.spinnerFrame()
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
		detail = CountsText(c.counts)
	}
	line := fmt.Sprintf("%s %-*s  %-8s  %s", icon, width, c.name, c.state, detail)
	if elapsed > 0 && c.state != "pending" && c.state != "skipped" {
		line += "  " + Round(elapsed).String()
	}
	return truncate(line, p.width-1)
}
