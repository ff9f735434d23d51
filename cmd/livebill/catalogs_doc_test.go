package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const catalogsDoc = "../../docs/catalogs.md"

// TestCatalogsDoc runs the worked example of docs/catalogs.md in an empty
// directory: it lists the built-in catalogs, writes and validates the
// override, shows the mistakes it reports, quotes and tests the scenario
// (whose expectations are worked out by hand in the document), makes the
// price change the document describes and runs the suite again, then
// gives the catalog to an account of a running server.
func TestCatalogsDoc(t *testing.T) {
	d := newDocRun(t, catalogsDoc)
	steps := []string{"list", "write", "mistakes", "scenario", "test"}
	outs := d.session(steps, nil)
	for _, l := range steps {
		d.matches(l+"-output", outs[l])
	}

	// "here HD goes to 3.60 in acme.yaml"
	path := filepath.Join(d.dir, "acme.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), `{id: trtc.av.hd, price: "3.50"}`, `{id: trtc.av.hd, price: "3.60"}`, 1)
	if changed == string(b) {
		t.Fatal("acme.yaml has no HD price of 3.50 to change")
	}
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	d.matches("changed-output", d.session([]string{"changed"}, nil)["changed"])

	const key = "catalogs-doc-operator-key-0123456789abcdef"
	p := startServe(t, livebillBinary(t), []string{"LIVEBILL_ADMIN_KEY=" + key}, "--db", filepath.Join(d.dir, "data"))
	d.addr = strings.TrimPrefix(p.url, "http://")
	d.matches("account-output", d.run("account", []string{"LIVEBILL_KEY=" + key}))
	d.allUsed()
}
