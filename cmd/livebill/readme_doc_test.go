package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
)

const readmeDoc = "../../README.md"

// walkthrough is the README's walk-through: the blocks a reader types
// into a second terminal, in order, each followed by its output block
// ("<label>-output") when the README shows one.
var walkthrough = []string{"walk-env", "walk-account", "walk-events", "walk-push-again", "walk-usage", "walk-settle", "walk-settle-force", "walk-customer", "walk-quote", "walk-arrears", "walk-topup"}

// TestReadmeDoc starts the server as the README says (the built binary
// for go run ./cmd/livebill, in a scratch directory, so its data is a
// fresh ./data, on a free port), runs the walk-through's blocks in one
// shell with the key the server printed, and checks every output the
// README shows. Then it checks that the walk-through issued no
// adjustment: the two bills it shows are all, and settling again, on
// this server and after a restart (the live meters rebuilt from the
// stored events), issues nothing.
//
// The figures, by the rules (SPEC §2, §3, §4): alice publishes a
// 1280×720 camera (921,600 px: HD) and receives nothing: 60 audio
// minutes; bob and the recording robot receive it: 2 × 60 HD minutes;
// the recording is 60 HD recording minutes. rtc-engine.lite's 50,000
// gift minutes cover A/V at 1 and 4 a minute (60 + 480), not recording:
// 60 × 5.99 / 1000 = 0.3594, a daily bill of 0.36. The plan is a
// purchase bill of 49.50. Balance: 100.00 − 49.50 − 0.36 = 50.14; the
// quote of the day: 49.50 + 0.36 = 49.86.
func TestReadmeDoc(t *testing.T) {
	d := newDocRun(t, readmeDoc)
	d.rewrite = []string{"go run ./cmd/livebill serve", "livebill serve --addr " + d.addr, "go run ./cmd/livebill", "livebill"}

	// go test ./... is what CI runs (.ci/run); a test cannot run it.
	d.block("tests", "sh")
	if ci, err := os.ReadFile("../../.ci/run"); err != nil || !regexp.MustCompile(`(?m)^go test (-count=1 )?\./\.\.\.$`).Match(ci) {
		t.Errorf(".ci/run does not run the README's go test ./... (%v)", err)
	}

	checkSeveralMachines(t, d.block("several-machines", "sh").body)

	p := d.serve("serve", nil)
	d.matches("serve-output", p.stderr.String())
	if p.key == "" {
		t.Fatal("the first start printed no operator key")
	}
	d.rewrite = append(d.rewrite, "lbk_…", p.key)
	outs := d.session(walkthrough, []string{"LIVEBILL_SERVER=" + p.url})
	for _, l := range walkthrough {
		if _, ok := d.blocks[l+"-output"]; ok {
			d.matches(l+"-output", outs[l])
		}
	}

	c := lbhttp.NewClient(p.url)
	c.Key = p.key
	ctx := context.Background()
	checkBills := func(when string) {
		t.Helper()
		bs, err := c.Bills(ctx, "100001")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{livebill.BillPurchase: "49.50", livebill.BillDaily: "0.36"}
		if len(bs.Bills) != len(want) {
			t.Errorf("%s: %d bills, want the walk-through's 2: %+v", when, len(bs.Bills), bs.Bills)
		}
		for _, b := range bs.Bills {
			if b.Kind == livebill.BillAdjustment {
				t.Errorf("%s: the walk-through issued an adjustment: %+v", when, b)
			} else if want[b.Kind] != b.Total {
				t.Errorf("%s: %s bill of %s, want %s", when, b.Kind, b.Total, want[b.Kind])
			}
		}
	}
	checkBills("after the walk-through")
	if res, err := c.SettleWith(ctx, "100001", false); err != nil || len(res.Issued) != 0 {
		t.Errorf("settling again issued %+v (%v)", res, err)
	}
	d.stop(p)
	p = d.serve("serve", nil)
	c = lbhttp.NewClient(p.url)
	c.Key = d.rewrite[len(d.rewrite)-1]
	if res, err := c.SettleWith(ctx, "100001", true); err != nil || len(res.Issued) != 0 {
		t.Errorf("settling after a restart issued %+v (%v)", res, err)
	}
	checkBills("after a restart")
	d.stop(p)
	d.allUsed()
}

// checkSeveralMachines checks the README's commands for several machines
// (which need several machines, a NATS server and PostgreSQL, and run in
// TestScaleOutPostgres with the same flags): every livebill serve line
// gives flags serve takes and roles it knows. Each line is parsed by
// serve's own flag set, ended by --help so nothing starts.
func checkSeveralMachines(t *testing.T, block string) {
	t.Helper()
	vars := map[string]string{}
	serves := 0
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		for _, stmt := range strings.Split(line, ";") {
			f := strings.Fields(stmt)
			if len(f) == 1 && strings.Contains(f[0], "=") {
				k, v, _ := strings.Cut(f[0], "=")
				vars["$"+k] = v
				continue
			}
			if len(f) < 2 || f[0] != "livebill" || f[1] != "serve" {
				continue
			}
			serves++
			args := f[1:]
			for i, a := range args {
				if v, ok := vars[a]; ok {
					args[i] = v
				}
				if i > 0 && args[i-1] == "--roles" {
					for _, r := range strings.Split(a, ",") {
						if r != "ingest" && r != "worker" && r != "api" {
							t.Errorf("README, several machines: %q names the role %q", stmt, r)
						}
					}
				}
			}
			var stderr bytes.Buffer
			if err := run(append(args, "--help"), io.Discard, &stderr); err != nil && err.Error() != "" {
				t.Errorf("README, several machines: %q: %v", stmt, err)
			}
		}
	}
	if serves != 3 {
		t.Errorf("README, several machines: %d livebill serve commands, want the three roles'", serves)
	}
}
