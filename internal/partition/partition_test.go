package partition

import "testing"

func TestIsRegion(t *testing.T) {
	for _, r := range []string{"us-east-1", "us-gov-west-1", "us-isob-east-1", "eusc-de-east-1", "ap-southeast-7", "cn-northwest-1"} {
		if !IsRegion(r) {
			t.Errorf("IsRegion(%q) = false", r)
		}
	}
	for _, r := range []string{"", "us-east", "US-EAST-1", "us--1", "us-east-1a", "useast1", "us-east-123", "u-east-1", "us_east-1"} {
		if IsRegion(r) {
			t.Errorf("IsRegion(%q) = true", r)
		}
	}
}

func TestOfRegion(t *testing.T) {
	for r, want := range map[string]string{"us-east-1": "aws", "us-gov-west-1": "aws-us-gov", "cn-north-1": "aws-cn", "us-iso-east-1": "aws-iso", "us-isof-south-1": "aws-iso-f", "eu-isoe-west-1": "aws-iso-e", "eusc-de-east-1": "aws-eusc", "xx-east-1": ""} {
		if got := OfRegion(r); got != want {
			t.Errorf("OfRegion(%q) = %q, want %q", r, got, want)
		}
	}
}
