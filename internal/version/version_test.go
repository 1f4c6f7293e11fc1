package version

import "testing"

func TestCompare(t *testing.T) {
	order := []string{"0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-nightly.20261201143000", "1.0.0", "1.0.1", "1.10.0", "2.0.0"}
	for i := range order {
		for j := range order {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := Compare(order[i], order[j]); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	for _, v := range order {
		if err := Check(v); err != nil {
			t.Error(err)
		}
	}
	if Compare("1.0.0+build.1", "1.0.0+build.2") != 0 {
		t.Error("build metadata must not order versions")
	}
}

func TestCheckRefuses(t *testing.T) {
	for _, v := range []string{"", "1", "1.2", "v1.2.3", "1.2.3.4", "01.2.3", "1.2.3-", "latest"} {
		if Check(v) == nil {
			t.Errorf("Check(%q) accepted it", v)
		}
	}
}
