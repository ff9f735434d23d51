package main

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/gen"
)

const genSynopsis = `livebill gen [--events N] [--apps N] [--rooms N] [--seed N] [--tasks F] [--start TIME] [--leave-open] [--out FILE]

Writes a seeded, realistic TRTC event workload as NDJSON (SPEC §7.1): rooms
with joins, leaves and rejoins, main/small/screen streams, manual, all and
audio subscriptions, resolution changes, and, in a share of the rooms,
recording, transcoding, relay and pull-stream tasks, over 30 hours that
cross midnight in Asia/Shanghai, from --start (default
2024-10-01T20:00:00+08:00; a server refuses events older than its
--event-max-age, so push recent ones). --rooms sets how many rooms are
open at once (default: one per 1,000 events, at least 4, at most
100,000). The same flags always give the same bytes,
and every event is valid for the meter. Sessions end: a user or task idle
for 12 hours leaves or stops, and the last events close every session
still open (--leave-open keeps them open, to try the session timeout).
Output is streamed: any size from 10k to 100M events runs in constant
memory. Progress goes to stderr for outputs of 10M events or more.`

func init() {
	register("gen", command{synopsis: "write a seeded NDJSON event workload", order: 4, run: cmdGen})
}

func cmdGen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gen", genSynopsis, stderr)
	events := fs.Int64("events", 100_000, "number of events to write")
	apps := fs.Int("apps", 10, "number of apps")
	rooms := fs.Int("rooms", 0, "rooms open at once (default: events/1000, at least 4, at most 100,000)")
	seed := fs.Uint64("seed", 1, "random seed")
	tasks := fs.Float64("tasks", 0.3, "share of rooms running recording/transcoding/relay/input tasks (0..1)")
	start := fs.String("start", gen.DefaultStart.Format(time.RFC3339), "the first event's time (RFC 3339, or a date: 00:00 UTC)")
	leaveOpen := fs.Bool("leave-open", false, "leave the sessions still open at the end open (no final leaves and task stops)")
	out := fs.String("out", "-", "output file (- for stdout)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return &exitError{code: 2, err: fmt.Errorf("gen takes no arguments, got %q", pos[0])}
	case *events <= 0:
		return &exitError{code: 2, err: fmt.Errorf("--events must be positive")}
	case *events == 1 && !*leaveOpen:
		return &exitError{code: 2, err: fmt.Errorf("--events must be at least 2 to close the sessions (a join and a leave), or add --leave-open")}
	case *apps <= 0:
		return &exitError{code: 2, err: fmt.Errorf("--apps must be positive")}
	case *rooms < 0 || *rooms > 100_000:
		return &exitError{code: 2, err: fmt.Errorf("--rooms must be between 1 and 100,000 (0: the default)")}
	case *tasks < 0 || *tasks > 1:
		return &exitError{code: 2, err: fmt.Errorf("--tasks must be between 0 and 1")}
	}
	from, err := livebill.ParseInstant(*start, time.UTC)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--start: %v", err)}
	}
	cfg := gen.Config{Events: *events, Apps: *apps, Rooms: *rooms, Seed: *seed, Tasks: *tasks, LeaveOpen: *leaveOpen, Start: from}
	if *events >= 10_000_000 {
		cfg.Progress = func(n int64) {
			fmt.Fprintf(stderr, "\rgen: %d/%d events (%d%%)", n, *events, n*100 / *events)
			if n == *events {
				fmt.Fprintln(stderr)
			}
		}
	}
	write := func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if _, err := gen.Write(bw, cfg); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("cannot write output: %w", err)
		}
		return nil
	}
	if *out == "-" {
		return write(stdout)
	}
	return writeOut(*out, write)
}
