package main

import (
	"io/fs"
	"testing"
)

func TestParseSecureBootVar(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		err     error
		want    string
		wantErr bool
	}{
		{"on", []byte{6, 0, 0, 0, 1}, nil, "enabled", false},
		{"off", []byte{6, 0, 0, 0, 0}, nil, "disabled", false},
		{"missing", nil, fs.ErrNotExist, "disabled (no SecureBoot variable)", false},
		{"short", []byte{6, 0, 0, 0}, nil, "", true},
		{"read error", nil, fs.ErrPermission, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSecureBootVar(tc.data, tc.err)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
