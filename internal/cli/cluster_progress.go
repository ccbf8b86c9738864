package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// stepPrinter shows the steps of a cluster operation on the error stream,
// one line per step ending in ✓ or ✗ with the time it took. On a terminal
// the step under way is a spinner line redrawn in place; elsewhere (CI
// logs, pipes) a plain "• step" line is printed when it starts, so that a
// long step such as an image pull does not look like a hang.
type stepPrinter struct {
	w     io.Writer
	live  bool
	color bool
	now   func() time.Time

	mu      sync.Mutex
	open    []*openStep
	drawn   bool // a spinner line is on screen
	frame   int
	stop    chan struct{}
	stopped chan struct{}
}

type openStep struct {
	name  string
	start time.Time
}

func newStepPrinter(f *Factory) *stepPrinter {
	live := f.Streams.ErrTTY && !f.Global.NoColor
	p := &stepPrinter{w: f.Streams.ErrOut, live: live, color: live, now: time.Now}
	if live {
		p.stop = make(chan struct{})
		p.stopped = make(chan struct{})
		go p.spin()
	}
	return p
}

// spin redraws the spinner line so that the timer moves while a step runs.
func (p *stepPrinter) spin() {
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

// Step implements cluster.Progress.
func (p *stepPrinter) Step(name string) func(error) {
	s := &openStep{name: name, start: p.now()}
	p.mu.Lock()
	p.open = append(p.open, s)
	if !p.live {
		fmt.Fprintf(p.w, "• %s\n", name)
	}
	p.redraw()
	p.mu.Unlock()

	var once sync.Once
	return func(err error) {
		once.Do(func() { p.end(s, err) })
	}
}

func (p *stepPrinter) end(s *openStep, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, o := range p.open {
		if o == s {
			p.open = append(p.open[:i], p.open[i+1:]...)
			break
		}
	}
	p.clear()
	mark, paint := "✓", "\x1b[32m"
	if err != nil {
		mark, paint = "✗", "\x1b[31m"
	}
	if p.color {
		mark = paint + mark + "\x1b[0m"
	}
	fmt.Fprintf(p.w, "%s %s (%s)\n", mark, s.name, roundDuration(p.now().Sub(s.start)))
	p.redraw()
}

// Note prints a line of its own, such as the reason auto chose a provider.
func (p *stepPrinter) Note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, format+"\n", args...)
	p.redraw()
}

// Close stops the spinner and ends steps left open as interrupted, so that
// the screen does not keep a spinner line that will never move again.
func (p *stepPrinter) Close() {
	p.mu.Lock()
	left := append([]*openStep(nil), p.open...)
	p.mu.Unlock()
	for _, s := range left {
		p.end(s, fmt.Errorf("interrupted"))
	}
	if p.live {
		close(p.stop)
		<-p.stopped
		p.mu.Lock()
		p.clear()
		p.mu.Unlock()
	}
}

func (p *stepPrinter) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

func (p *stepPrinter) redraw() {
	if !p.live || len(p.open) == 0 {
		return
	}
	p.clear()
	s := p.open[len(p.open)-1]
	frames := []rune(`⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏`)
	fmt.Fprintf(p.w, "%c %s (%s)", frames[p.frame%len(frames)], s.name, roundDuration(p.now().Sub(s.start)))
	p.drawn = true
}

// roundDuration shows a duration the way a person reads a step's time.
func roundDuration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s") // 2m rather than 2m0s
	}
	return s
}
