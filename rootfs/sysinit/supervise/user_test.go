package supervise

import (
	"reflect"
	"strings"
	"testing"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
# comment
broken line
www:x:33:34:web:/var/www:/bin/false
nobody:x:65534:65534::/nonexistent:/bin/false
`

const testGroup = `root:x:0:
www:x:34:
web:x:500:www,other
adm:x:4:other
`

func TestLookupUser(t *testing.T) {
	tests := []struct {
		spec    string
		want    Identity
		wantErr bool
	}{
		{"www", Identity{Name: "www", UID: 33, GID: 34, Groups: []uint32{34, 500}, Home: "/var/www"}, false},
		{"33", Identity{Name: "www", UID: 33, GID: 34, Groups: []uint32{34, 500}, Home: "/var/www"}, false},
		{"1000", Identity{UID: 1000, GID: 1000, Groups: []uint32{1000}, Home: "/"}, false},
		{"1000:2000", Identity{UID: 1000, GID: 2000, Groups: []uint32{2000}, Home: "/"}, false},
		{"www:adm", Identity{Name: "www", UID: 33, GID: 4, Groups: []uint32{4, 500}, Home: "/var/www"}, false},
		{"nobody", Identity{Name: "nobody", UID: 65534, GID: 65534, Groups: []uint32{65534}, Home: "/nonexistent"}, false},
		{"ghost", Identity{}, true},
		{"www:ghosts", Identity{}, true},
		{":5", Identity{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := LookupUser(tt.spec, strings.NewReader(testPasswd), strings.NewReader(testGroup))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLookupUserMissingFiles(t *testing.T) {
	got, err := LookupUserFiles("42:43", "/nonexistent/passwd", "/nonexistent/group")
	if err != nil || got.UID != 42 || got.GID != 43 {
		t.Errorf("got %+v, %v", got, err)
	}
	if _, err := LookupUserFiles("www", "/nonexistent/passwd", "/nonexistent/group"); err == nil {
		t.Error("named user resolved without a passwd file")
	}
}
