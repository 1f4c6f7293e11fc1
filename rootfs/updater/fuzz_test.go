package updater

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"

	"github.com/flatcar/go-omaha/omaha"
)

const fuzzAppID = "{e96281a6-d1af-4bde-9a0a-97b76e56dc57}"

// offerXML is a server's answer offering 1.1.0 with one package of size bytes.
func offerXML(t testing.TB, size uint64) []byte {
	resp := omaha.NewResponse()
	u := resp.AddApp(fuzzAppID, omaha.AppOK).AddUpdateCheck(omaha.UpdateOK)
	u.AddURL("http://10.0.2.2:8080/")
	p := u.AddManifest("1.1.0").AddPackage()
	p.Name, p.SHA256, p.Size, p.Required = "objects/sha256/ab", "AB", size, true
	b, err := xml.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzOmahaResponse reads what an update server answers: the agent
// must refuse what it cannot use, never take a size it cannot hold.
func FuzzOmahaResponse(f *testing.F) {
	f.Add(offerXML(f, 5000))
	none := omaha.NewResponse()
	none.AddApp(fuzzAppID, omaha.AppOK).AddUpdateCheck(omaha.NoUpdate)
	noUpdate, _ := xml.Marshal(none)
	f.Add(noUpdate)
	f.Fuzz(func(t *testing.T, data []byte) {
		app, err := parseResponse(data, fuzzAppID)
		if err != nil {
			return
		}
		o, err := offerOf(app, nil)
		if err != nil || o == nil {
			return
		}
		for _, f := range o.Files {
			if f.Size < 0 {
				t.Errorf("offered file %s of %d bytes", f.Path, f.Size)
			}
		}
	})
}

// TestOmahaRefusesSizePastInt64: a package size of 2^64-1 became a file
// of -1 bytes, which the download then read nothing of.
func TestOmahaRefusesSizePastInt64(t *testing.T) {
	app, err := parseResponse(offerXML(t, math.MaxUint64), fuzzAppID)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := offerOf(app, nil); err == nil || !strings.Contains(err.Error(), "size") {
		t.Fatalf("offer %+v, %v; want a size error", o, err)
	}
}
