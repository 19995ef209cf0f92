package versions

import "testing"

func TestCompare(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.24", "1.24", 0},
		{"1.9", "1.10", -1},
		{"1.50", "1.49", 1},
		{"1", "1.0", 0},
		{"2.0", "1.99", 1},
		{"1.5.1", "1.5", 1},
	}
	for _, c := range cases {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if !LessThan("1.23", "1.24") || GreaterThan("1.24", "1.24") || !GreaterThanOrEqualTo("1.24", "1.24") || !LessThanOrEqualTo("1.2", "1.24") {
		t.Fatal("helpers disagree with Compare")
	}
}
