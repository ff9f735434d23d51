package meter

import (
	"cmp"
	"container/heap"
	"slices"

	"github.com/livebill/livebill"
)

// A meter keeps at most maxErrs errors: those of the lowest lines. It
// applies a room's events of one instant when the room's next instant
// comes, so the order it meets errors in is not the stream's; keeping the
// lowest lines makes the errors reported the same however the stream was
// fed, advanced or split among meters (Absorb).

// keptErr is an error the meter keeps.
type keptErr struct {
	err  error
	line int // the line of the event it names (0: none)
	seq  int // the order the meter met it in, among errors of one line
}

func (a keptErr) compare(b keptErr) int {
	return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.seq, b.seq))
}

// fail keeps err while the meter holds fewer than maxErrs errors; then in
// place of the kept error of the highest line, if err's line is lower.
func (m *Meter) fail(err error) {
	k := keptErr{err: err, line: errLine(err), seq: m.errSeq}
	m.errSeq++
	if len(m.errs) < m.maxErrs {
		m.errs = append(m.errs, k)
		if len(m.errs) == m.maxErrs {
			heap.Init((*errHeap)(&m.errs)) // from now on the highest is at hand
		}
		return
	}
	if k.line < m.errs[0].line {
		m.errs[0] = k
		heap.Fix((*errHeap)(&m.errs), 0)
	}
}

// Errors returns the events rejected so far (validation and state errors),
// each naming the event and the field, in line order (then in the order
// the meter met them); at most Options.MaxErrors, those of the lowest
// lines.
func (m *Meter) Errors() []error {
	kept := slices.Clone(m.errs)
	slices.SortFunc(kept, keptErr.compare)
	out := make([]error, len(kept))
	for i, k := range kept {
		out[i] = k.err
	}
	return out
}

// errLine is the line of the event an error is about (0 if it names none).
func errLine(err error) int {
	if ee, ok := err.(*livebill.EventError); ok {
		return ee.Line
	}
	return 0
}

// errHeap orders a full meter's errors with the highest (line, seq) first.
type errHeap []keptErr

func (h errHeap) Len() int           { return len(h) }
func (h errHeap) Less(i, j int) bool { return h[i].compare(h[j]) > 0 }
func (h errHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *errHeap) Push(x any)        { *h = append(*h, x.(keptErr)) }
func (h *errHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
