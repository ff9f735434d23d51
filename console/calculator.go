package console

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/scenario"
)

// The price calculator quotes a scenario (SPEC §7.2) with the engine of
// `livebill quote` and the bounds of POST /v1/quote (billing.QuoteScenario):
// pasted, uploaded, or made from a small form — users in one room for
// some minutes a day at a resolution, over a month, at list prices
// (calculator mode: no packs or plans).

type calcData struct {
	Scenario string
	Skip     bool
	Form     calcForm
	Quote    *livebill.Quote
	Rejected []string
	Errors   []string
	cat      *catalog.Catalog
}

type calcForm struct {
	Users, Minutes, Days int
	Resolution           string
	Month                string
}

// resolutions the form offers: tier name → width × height of each
// user's camera.
var resolutions = []struct{ Name, Size string }{
	{"audio", ""}, {"hd", "1280x720"}, {"fhd", "1920x1080"}, {"2k", "2560x1440"}, {"4k", "3840x2160"},
}

// Resolutions lists the form's resolutions.
func (calcData) Resolutions() []struct{ Name, Size string } { return resolutions }

// Cat is the catalog of the quote (item names).
func (d *calcData) Cat() *catalog.Catalog { return d.cat }

func (s *Server) calculatorForm(c *call) {
	d := &calcData{Form: calcForm{Users: 2, Minutes: 60, Days: 30, Resolution: "hd", Month: date(s.now())[:7]}}
	c.render(http.StatusOK, "calculator", c.loc.T("calc.title"), d, func(v *view) { v.Tab = "calculator" })
}

// calculate quotes the pasted or uploaded scenario, or the form's.
func (s *Server) calculate(c *call) {
	r := c.r
	d := &calcData{Skip: r.PostFormValue("skip_invalid") != ""}
	d.Form = calcForm{Resolution: r.PostFormValue("resolution"), Month: r.PostFormValue("month")}
	var errs []error
	for _, f := range []struct {
		name     string
		into     *int
		min, max int
	}{{"users", &d.Form.Users, 1, 50}, {"minutes", &d.Form.Minutes, 1, 1440}, {"days", &d.Form.Days, 1, 31}} {
		v := strings.TrimSpace(r.PostFormValue(f.name))
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < f.min || n > f.max {
			errs = append(errs, livebill.Errorf(livebill.EINVALID, "%s: must be a whole number from %d to %d, not %s", f.name, f.min, f.max, livebill.Shown(v)))
		}
		*f.into = n
	}
	doc := r.PostFormValue("scenario")
	if file, _, err := r.FormFile("file"); err == nil {
		b, err := io.ReadAll(io.LimitReader(file, maxScenarioForm))
		file.Close()
		if err != nil {
			errs = append(errs, err)
		}
		if len(b) > 0 {
			doc = string(b)
		}
	}
	if strings.TrimSpace(doc) == "" && len(errs) == 0 && r.PostFormValue("form") != "" {
		var err error
		if doc, err = d.Form.scenario(); err != nil {
			errs = append(errs, err)
		}
	}
	d.Scenario = doc
	status := http.StatusOK
	switch {
	case len(errs) > 0:
		d.Errors, status = messages(errors.Join(errs...)), http.StatusBadRequest
	case strings.TrimSpace(doc) == "":
		d.Errors, status = []string{c.loc.T("calc.empty")}, http.StatusBadRequest
	default:
		q, err := billing.QuoteScenario(c.ctx(), []byte(doc), "scenario", d.Skip)
		var rj *billing.RejectedEvents
		switch {
		case errors.As(err, &rj):
			d.Errors, status = []string{rj.Error() + " — " + c.loc.T("calc.skiphint")}, http.StatusBadRequest
			for _, e := range rj.Events {
				d.Rejected = append(d.Rejected, e.Error())
			}
		case err != nil:
			d.Errors, status = messages(err), statusOf(err)
		default:
			d.Quote = q
			if f, err := scenario.Parse([]byte(doc), "scenario"); err == nil {
				d.cat, _ = catalog.Load(f.Catalog) // item names
			}
		}
	}
	c.render(status, "calculator", c.loc.T("calc.title"), d, func(v *view) { v.Tab = "calculator" })
}

// scenario writes the form's scenario: users who all join one room, each
// publishing a camera at the resolution (or audio) and receiving the
// others', for minutes a day on days days of the month, at list prices.
func (f calcForm) scenario() (string, error) {
	size := ""
	ok := false
	for _, r := range resolutions {
		if r.Name == f.Resolution {
			size, ok = r.Size, true
		}
	}
	if !ok {
		return "", livebill.Errorf(livebill.EINVALID, "resolution: must be one of audio, hd, fhd, 2k, 4k, not %s", livebill.Shown(f.Resolution))
	}
	first, err := time.Parse("2006-01", f.Month)
	if err != nil {
		return "", livebill.Errorf(livebill.EINVALID, "month: must be YYYY-MM, not %s", livebill.Shown(f.Month))
	}
	zone := time.FixedZone("+08:00", 8*3600) // the TRTC catalog's billing zone, Asia/Shanghai
	var b strings.Builder
	fmt.Fprintf(&b, "mode: calculator\ncatalog: trtc\nperiod: {from: %s, to: %s}\naccount: {id: calculator, created: %s}\napps: [calc]\nevents:\n",
		first.Format(time.DateOnly), first.AddDate(0, 1, 0).Format(time.DateOnly), first.Format(time.DateOnly))
	for day := 0; day < f.Days; day++ {
		start := time.Date(first.Year(), first.Month(), 1+day, 0, 0, 0, 0, zone)
		if start.Month() != first.Month() {
			break // a short month
		}
		at, end := start.Format(time.RFC3339), start.Add(time.Duration(f.Minutes)*time.Minute).Format(time.RFC3339)
		for u := 1; u <= f.Users; u++ {
			fmt.Fprintf(&b, "  - {time: %q, type: room.join, app: calc, room: r, user: u%d, subscribe: all}\n", at, u)
			if size != "" {
				w, h, _ := strings.Cut(size, "x")
				fmt.Fprintf(&b, "  - {time: %q, type: stream.start, app: calc, room: r, user: u%d, stream: main, media: video, width: %s, height: %s}\n", at, u, w, h)
			}
		}
		for u := 1; u <= f.Users; u++ {
			fmt.Fprintf(&b, "  - {time: %q, type: room.leave, app: calc, room: r, user: u%d}\n", end, u)
		}
	}
	return b.String(), nil
}
