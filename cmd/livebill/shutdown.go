package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// settleLoop runs the periodic settlement of serve.
type settleLoop struct {
	done chan struct{} // closed once the loop has returned
	busy atomic.Bool   // a settlement is running
}

// startSettleLoop settles every every (never when 0) until stop is
// closed. A settlement runs under ctx, not stop: the one in progress when
// stop closes runs to its end (its groups are written whole), unless
// ctx is cancelled — at the shutdown deadline — which rolls back its
// open transaction.
func startSettleLoop(stop <-chan struct{}, ctx context.Context, every time.Duration, settle func(context.Context) error, logger *slog.Logger) *settleLoop {
	l := &settleLoop{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		if every <= 0 {
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			select {
			case <-stop: // both ready: stopping wins
				return
			default:
			}
			l.busy.Store(true)
			if err := settle(ctx); err != nil && ctx.Err() == nil {
				logger.Error("settlement: some accounts were not settled", "error", err.Error())
			}
			l.busy.Store(false)
		}
	}()
	return l
}

// httpServer is the part of the API server a shutdown uses.
type httpServer interface {
	Shutdown(context.Context) error
	Close() error
}

// shutdown stops serve gracefully: the server accepts no new connections
// and answers the requests in flight (an event batch being stored is
// committed and acknowledged), the settlement in progress runs to its end,
// then the store is closed. What is still running at the grace deadline is
// cut: its requests' and settlement's contexts are cancelled, so their
// open transactions roll back (a cut batch was never acknowledged), and
// shutdown returns an exit status 1 error naming what it cut.
// why (the signal) starts the log line.
func shutdown(why string, srv httpServer, loop *settleLoop, cancelSettle context.CancelFunc, store io.Closer, grace time.Duration, logger *slog.Logger) error {
	start := time.Now()
	settling := loop.busy.Load()
	what := "the requests in flight"
	if settling {
		what += " and the settlement in progress"
	}
	logger.Info(fmt.Sprintf("%s: shutting down; no new connections, waiting up to %s for %s", why, grace, what))
	dctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	took := func() time.Duration { return time.Since(start).Round(time.Millisecond) }
	var mu sync.Mutex
	var cut []string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Shutdown(dctx); err != nil {
			srv.Close()
			mu.Lock()
			cut = append(cut, "requests in flight")
			mu.Unlock()
			logger.Warn(fmt.Sprintf("requests in flight: cut at the deadline (%s): not acknowledged, their transactions rolled back", took()))
			return
		}
		logger.Info(fmt.Sprintf("requests in flight: all answered (%s)", took()))
	}()
	go func() {
		defer wg.Done()
		select {
		case <-loop.done:
			if settling {
				logger.Info(fmt.Sprintf("settlement in progress: finished (%s)", took()))
			}
		case <-dctx.Done():
			cancelSettle()
			<-loop.done
			mu.Lock()
			cut = append(cut, "the settlement in progress")
			mu.Unlock()
			logger.Warn(fmt.Sprintf("settlement in progress: cut at the deadline (%s): its open transaction rolled back; the next start settles again", took()))
		}
	}()
	wg.Wait()
	cancelSettle()
	if err := store.Close(); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("cannot close the database: %w", err)}
	}
	logger.Info(fmt.Sprintf("database closed; stopped in %s", took()))
	if len(cut) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("stopped at the --shutdown-timeout deadline (%s), cutting %s", grace, strings.Join(cut, " and "))}
	}
	return nil
}
