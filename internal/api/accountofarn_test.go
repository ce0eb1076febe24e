package api

import "testing"

func TestAccountOfARN(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab": "111122223333",
		"arn:aws:kms:us-east-1:111122223333:alias/a:b":                                "111122223333",
		"arn:aws:kms:us-east-1:111122223333":                                          "111122223333",
		"arn:aws:kms:us-east-1":                                                       "",
		"":                                                                            "",
	} {
		if got := accountOfARN(arn); got != want {
			t.Errorf("accountOfARN(%q) = %q, want %q", arn, got, want)
		}
	}
}
