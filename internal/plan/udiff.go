package plan

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// maxEditDistance bounds the work of the line diff: past it, the changed
// middle of the two texts is shown as removed and added wholesale, which is
// still a correct (if less minimal) diff. Objects are small; this only
// guards against a huge ConfigMap rewritten end to end.
const maxEditDistance = 2000

// opKind is one step of an edit script.
type opKind byte

const (
	opEqual  opKind = ' '
	opDelete opKind = '-'
	opInsert opKind = '+'
)

type op struct {
	kind opKind
	// a and b are the line indexes in the old and new text the step is at.
	a, b int
}

// editScript returns a shortest edit script turning a into b (Myers'
// O(ND) algorithm), after trimming the common prefix and suffix, which is
// where most of an object's lines are.
func editScript(a, b []string) []op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []op
	for i := range pre {
		ops = append(ops, op{opEqual, i, i})
	}
	for _, o := range myers(a[pre:len(a)-suf], b[pre:len(b)-suf]) {
		ops = append(ops, op{o.kind, o.a + pre, o.b + pre})
	}
	for i := range suf {
		ops = append(ops, op{opEqual, len(a) - suf + i, len(b) - suf + i})
	}
	return ops
}

func myers(a, b []string) []op {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return wholesale(n, m)
	}
	max := n + m
	off := max + 1
	v := make([]int, 2*max+3)
	// trace[d] holds v[-d..d] after round d, for the walk back.
	var trace [][]int
	for d := 0; d <= max; d++ {
		if d > maxEditDistance {
			return wholesale(n, m)
		}
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
				return backtrack(trace, n, m)
			}
		}
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
	}
	return wholesale(n, m)
}

// backtrack walks the trace from the end to the start and returns the edit
// script in forward order.
func backtrack(trace [][]int, n, m int) []op {
	var rev []op
	x, y := n, m
	at := func(d, k int) int { return trace[d][k+d] }
	for d := len(trace) - 1; d > 0; d-- {
		k := x - y
		var prevK int
		if k == -d || (k != d && at(d-1, k-1) < at(d-1, k+1)) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := at(d-1, prevK)
		prevY := prevX - prevK
		midX, midY := prevX+1, prevY
		if prevK == k+1 {
			midX, midY = prevX, prevY+1
		}
		for x > midX && y > midY {
			x--
			y--
			rev = append(rev, op{opEqual, x, y})
		}
		if prevK == k+1 {
			rev = append(rev, op{opInsert, prevX, prevY})
		} else {
			rev = append(rev, op{opDelete, prevX, prevY})
		}
		x, y = prevX, prevY
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, op{opEqual, x, y})
	}
	ops := make([]op, len(rev))
	for i, o := range rev {
		ops[len(rev)-1-i] = o
	}
	return ops
}

// wholesale deletes every line of a and inserts every line of b.
func wholesale(n, m int) []op {
	ops := make([]op, 0, n+m)
	for i := range n {
		ops = append(ops, op{opDelete, i, 0})
	}
	for j := range m {
		ops = append(ops, op{opInsert, n, j})
	}
	return ops
}

// unifiedDiff returns the diff of a and b in unified format with context
// lines of context, or "" when they are equal. Texts are split on "\n"; a
// final newline does not make an extra line.
func unifiedDiff(fromName, toName, a, b string, context int) string {
	al, bl := splitLines(a), splitLines(b)
	ops := editScript(al, bl)
	// An op is shown when a change is within context ops of it; each run of
	// shown ops is a hunk.
	shown := make([]bool, len(ops))
	last := -1 << 30
	for i, o := range ops {
		if o.kind != opEqual {
			last = i
		}
		shown[i] = i-last <= context
	}
	next := 1 << 30
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].kind != opEqual {
			next = i
		}
		shown[i] = shown[i] || next-i <= context
	}
	var hunks [][]op
	for i := 0; i < len(ops); {
		if !shown[i] {
			i++
			continue
		}
		j := i
		for j < len(ops) && shown[j] {
			j++
		}
		hunks = append(hunks, ops[i:j])
		i = j
	}
	if len(hunks) == 0 {
		return ""
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", headerName(fromName), headerName(toName))
	for _, h := range hunks {
		aStart, bStart := h[0].a, h[0].b
		var aCount, bCount int
		for _, o := range h {
			if o.kind != opInsert {
				aCount++
			}
			if o.kind != opDelete {
				bCount++
			}
		}
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(aStart, aCount), hunkRange(bStart, bCount))
		for _, o := range h {
			line := ""
			switch o.kind {
			case opInsert:
				line = bl[o.b]
			default:
				line = al[o.a]
			}
			sb.WriteByte(byte(o.kind))
			sb.WriteString(line)
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}

// hunkRange formats a hunk's line range: 1-based start and count, the count
// left out when it is 1, and an empty range given as the line before it.
func hunkRange(start, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	default:
		return fmt.Sprintf("%d,%d", start+1, count)
	}
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// headerName is a name as a diff header shows it: quoted, Go-style, when it
// holds a control character (a newline in a kind or name would otherwise
// break the header over lines, and the diff with it), as it is otherwise.
func headerName(name string) string {
	if strings.ContainsFunc(name, unicode.IsControl) {
		return strconv.Quote(name)
	}
	return name
}
