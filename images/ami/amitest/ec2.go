package amitest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
)

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

// ec2Error answers in the EC2 query protocol's error form.
func ec2Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>fake</RequestID></Response>", code, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b []byte
	b, _ = xml.Marshal(struct {
		XMLName xml.Name `xml:"x"`
		S       string   `xml:",chardata"`
	}{S: s})
	return string(b[3 : len(b)-4])
}

func (s *Server) serveEC2(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if r.Method != http.MethodPost || r.URL.Path != "/" || err != nil {
		ec2Error(w, http.StatusBadRequest, "InvalidRequest", "not an EC2 query request")
		return
	}
	op := form.Get("Action")
	s.calls = append(s.calls, "ec2 "+op)
	if err := s.verify(r, body, "ec2", false); err != nil {
		s.refuse(w, op, err, func() { ec2Error(w, http.StatusForbidden, "SignatureDoesNotMatch", err.Error()) })
		return
	}
	switch op {
	case "DescribeSnapshots":
		s.describeSnapshots(w, form)
	case "RegisterImage":
		s.registerImage(w, form)
	default:
		ec2Error(w, http.StatusBadRequest, "InvalidAction", op)
	}
}

type ec2Snapshot struct {
	SnapshotID  string `xml:"snapshotId"`
	Status      string `xml:"status"`
	Progress    string `xml:"progress"`
	VolumeSize  int64  `xml:"volumeSize"`
	Description string `xml:"description"`
}

func (s *Server) describeSnapshots(w http.ResponseWriter, form url.Values) {
	id := form.Get("SnapshotId.1")
	snap := s.snaps[id]
	if snap == nil {
		ec2Error(w, http.StatusBadRequest, "InvalidSnapshot.NotFound", fmt.Sprintf("The snapshot '%s' does not exist.", id))
		return
	}
	progress := "0%"
	if snap.Completed {
		// EBS takes a while after CompleteSnapshot: answer pending first.
		if snap.polls++; snap.polls > s.pendingPolls {
			snap.State = "completed"
		}
		progress = "99%"
	}
	if snap.State == "completed" {
		progress = "100%"
	}
	out := struct {
		XMLName   xml.Name      `xml:"DescribeSnapshotsResponse"`
		NS        string        `xml:"xmlns,attr"`
		RequestID string        `xml:"requestId"`
		Snapshots []ec2Snapshot `xml:"snapshotSet>item"`
	}{NS: ec2NS, RequestID: "fake", Snapshots: []ec2Snapshot{{snap.ID, snap.State, progress, snap.VolumeGiB, snap.Description}}}
	w.Header().Set("Content-Type", "text/xml")
	xml.NewEncoder(w).Encode(out)
}

// registerImage refuses what EC2 would: a snapshot that is not
// completed, a duplicate name; and what imgbuild must never send: a
// registration that is not UEFI, ENA, IMDSv2-only HVM x86_64.
func (s *Server) registerImage(w http.ResponseWriter, form url.Values) {
	want := map[string]string{"Architecture": "x86_64", "BootMode": "uefi", "EnaSupport": "true",
		"ImdsSupport": "v2.0", "VirtualizationType": "hvm"}
	for k, v := range want {
		if form.Get(k) != v {
			s.refuse(w, "RegisterImage", fmt.Errorf("%s=%q, want %q", k, form.Get(k), v), func() {
				ec2Error(w, http.StatusBadRequest, "InvalidParameterValue", k)
			})
			return
		}
	}
	root, id := form.Get("RootDeviceName"), form.Get("BlockDeviceMapping.1.Ebs.SnapshotId")
	if root == "" || form.Get("BlockDeviceMapping.1.DeviceName") != root {
		ec2Error(w, http.StatusBadRequest, "InvalidBlockDeviceMapping", "no mapping for the root device "+root)
		return
	}
	if snap := s.snaps[id]; snap == nil || snap.State != "completed" {
		ec2Error(w, http.StatusBadRequest, "IncorrectState", fmt.Sprintf("snapshot %s is not completed", id))
		return
	}
	for _, img := range s.images {
		if img.Params["Name"] == form.Get("Name") {
			ec2Error(w, http.StatusBadRequest, "InvalidAMIName.Duplicate", "AMI name "+form.Get("Name")+" is already in use")
			return
		}
	}
	img := Image{ID: s.id("ami"), Params: map[string]string{}}
	for k := range form {
		img.Params[k] = form.Get(k)
	}
	s.images[img.ID] = img
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<RegisterImageResponse xmlns="%s"><requestId>fake</requestId><imageId>%s</imageId></RegisterImageResponse>`, ec2NS, img.ID)
}
