package xlsx

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, []Sheet{
		{Name: "5-minute", Rows: [][]Cell{{"time", "seconds"}, {"2024-10-01T10:00:00+08:00", Number("300.5")}}},
		{Name: "daily & <more>", Rows: [][]Cell{{"date", "n"}, {"2024-10-01", 42}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		// every part is well-formed XML
		d := xml.NewDecoder(bytes.NewReader(b))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
		}
		got[f.Name] = string(b)
	}
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"} {
		if _, ok := got[name]; !ok {
			t.Errorf("missing part %s", name)
		}
	}
	if s := got["xl/worksheets/sheet1.xml"]; !strings.Contains(s, `<c r="B2"><v>300.5</v></c>`) {
		t.Errorf("sheet1: %s", s)
	}
	if s := got["xl/workbook.xml"]; !strings.Contains(s, `name="daily &amp; &lt;more&gt;"`) {
		t.Errorf("workbook: %s", s)
	}
	if colName(0) != "A" || colName(25) != "Z" || colName(26) != "AA" || colName(701) != "ZZ" || colName(702) != "AAA" {
		t.Error("colName")
	}
}
