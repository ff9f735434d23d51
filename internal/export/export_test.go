package export

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
)

func TestFixed(t *testing.T) {
	for _, c := range []struct {
		v      int64
		places int
		want   string
	}{{3600000, 3, "3600"}, {1500, 3, "1.5"}, {1, 3, "0.001"}, {0, 3, "0"}, {-1500, 3, "-1.5"}, {1234567, 6, "1.234567"}} {
		if got := Fixed(c.v, c.places); got != c.want {
			t.Errorf("Fixed(%d, %d) = %s, want %s", c.v, c.places, got, c.want)
		}
	}
}

// A bill's lines are one row each with the bill's number, kind, date,
// the bill it adjusts and its total; amounts are the API's strings,
// never reformatted.
func TestBillsTable(t *testing.T) {
	at := time.Date(2024, 10, 2, 1, 0, 0, 0, time.UTC)
	bills := []livebill.IssuedBill{
		{Seq: 1, Key: "daily|2024-10-01", IssuedAt: at, Bill: livebill.Bill{Kind: "daily", Date: "2024-10-01", Total: "4.14",
			Lines: []livebill.Line{{Item: "trtc.av.2k", App: "a", Quantity: "240", Unit: "minute", UnitPrice: "15.99", Per: "1000", Amount: "3.8376"},
				{Item: "trtc.av.hd", App: "a", Quantity: "75", Unit: "minute", UnitPrice: "3.99", Per: "1000", Amount: "0.29925"}}}},
		{Seq: 2, Key: "adjustment|2024-10-02", Adjusts: "daily|2024-10-01", IssuedAt: at, Bill: livebill.Bill{Kind: "adjustment", Date: "2024-10-02", Total: "0.00"}},
	}
	tb := Bills("bills", bills)
	var csv bytes.Buffer
	if err := WriteCSV(&csv, tb); err != nil {
		t.Fatal(err)
	}
	want := "bill,kind,date,adjusts,issued_at,item,app,quantity,unit,unit_price,per,amount,bill_total\n" +
		"1,daily,2024-10-01,,2024-10-02T01:00:00Z,trtc.av.2k,a,240,minute,15.99,1000,3.8376,4.14\n" +
		"1,daily,2024-10-01,,2024-10-02T01:00:00Z,trtc.av.hd,a,75,minute,3.99,1000,0.29925,4.14\n" +
		"2,adjustment,2024-10-02,daily|2024-10-01,2024-10-02T01:00:00Z,,,,,,,,0.00\n"
	if csv.String() != want {
		t.Errorf("csv:\n%s\nwant:\n%s", csv.String(), want)
	}
	var x bytes.Buffer
	if err := WriteXLSX(&x, tb); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(x.Bytes()), int64(x.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range z.File {
		if f.Name != "xl/worksheets/sheet1.xml" {
			continue
		}
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		// the amount is a number cell holding the exact text
		if !strings.Contains(string(b), `<c r="L3"><v>0.29925</v></c>`) || !strings.Contains(string(b), `<t>daily|2024-10-01</t>`) {
			t.Errorf("sheet: %s", b)
		}
	}
}

// Text a spreadsheet would run as a formula is written as text: an app id
// "=2+3", a reference "=HYPERLINK(…)", "@SUM(A1)", "+1+1" followed by
// text, a leading tab; numbers, negative ones too, and other text are
// written as they are.
func TestCSVTextNotFormulas(t *testing.T) {
	tb := Table{Name: "t", Rows: [][]string{
		{"app", "ref", "amount"},
		{"=2+3", `=HYPERLINK("http://evil.example","x")`, "-12.50"},
		{"@SUM(A1)", "+1+1 x", "+3"},
		{"\tcmd", "-x", "0"},
		{"app-1", "trtc.av.hd", "1e3"},
	}}
	var b strings.Builder
	if err := WriteCSV(&b, tb); err != nil {
		t.Fatal(err)
	}
	want := "app,ref,amount\n" +
		`'=2+3,"'=HYPERLINK(""http://evil.example"",""x"")",-12.50` + "\n" +
		"'@SUM(A1),'+1+1 x,+3\n" +
		"'\tcmd,'-x,0\n" +
		"app-1,trtc.av.hd,1e3\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
