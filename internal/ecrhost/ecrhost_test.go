package ecrhost

import "testing"

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"https://123456789012.dkr.ecr.us-east-1.amazonaws.com":         "123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com":                 "123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM/v2/":             "123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"https://123456789012.dkr.ecr.us-east-1.amazonaws.com:443/v2/": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"  https://public.ecr.aws  ":                                   "public.ecr.aws",
		"127.0.0.1:5000":                                               "127.0.0.1:5000",
		"http://127.0.0.1:5000/v2/":                                    "127.0.0.1:5000",
		"http://localhost:80":                                          "localhost",
		"https://[::1]:5000/v2/":                                       "[::1]:5000",
		"registry.example.com:8443":                                    "registry.example.com:8443",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.":                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "   ", "https://", "https://user:pw@host"} {
		if got, err := Normalize(bad); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParse(t *testing.T) {
	const acct = "123456789012"
	tests := []struct {
		host string
		want Registry
	}{
		{acct + ".dkr.ecr.us-east-1.amazonaws.com", Registry{Account: acct, Region: "us-east-1", Partition: "aws"}},
		{acct + ".dkr.ecr.eu-west-3.amazonaws.com", Registry{Account: acct, Region: "eu-west-3", Partition: "aws"}},
		{acct + ".dkr.ecr.mx-central-1.amazonaws.com", Registry{Account: acct, Region: "mx-central-1", Partition: "aws"}},
		{acct + ".dkr.ecr-fips.us-east-1.amazonaws.com", Registry{Account: acct, Region: "us-east-1", Partition: "aws", FIPS: true}},
		{acct + ".dkr-ecr.us-east-1.on.aws", Registry{Account: acct, Region: "us-east-1", Partition: "aws", DualStack: true}},
		{acct + ".dkr-ecr-fips.us-west-2.on.aws", Registry{Account: acct, Region: "us-west-2", Partition: "aws", DualStack: true, FIPS: true}},
		{acct + ".dkr.ecr.cn-north-1.amazonaws.com.cn", Registry{Account: acct, Region: "cn-north-1", Partition: "aws-cn"}},
		{acct + ".dkr.ecr.cn-northwest-1.amazonaws.com.cn", Registry{Account: acct, Region: "cn-northwest-1", Partition: "aws-cn"}},
		{acct + ".dkr-ecr.cn-north-1.on.amazonwebservices.com.cn", Registry{Account: acct, Region: "cn-north-1", Partition: "aws-cn", DualStack: true}},
		{acct + ".dkr.ecr.us-gov-west-1.amazonaws.com", Registry{Account: acct, Region: "us-gov-west-1", Partition: "aws-us-gov"}},
		{acct + ".dkr.ecr-fips.us-gov-east-1.amazonaws.com", Registry{Account: acct, Region: "us-gov-east-1", Partition: "aws-us-gov", FIPS: true}},
		{acct + ".dkr-ecr.us-gov-east-1.on.aws", Registry{Account: acct, Region: "us-gov-east-1", Partition: "aws-us-gov", DualStack: true}},
		{acct + ".dkr.ecr.us-iso-east-1.c2s.ic.gov", Registry{Account: acct, Region: "us-iso-east-1", Partition: "aws-iso"}},
		{acct + ".dkr.ecr.us-isob-east-1.sc2s.sgov.gov", Registry{Account: acct, Region: "us-isob-east-1", Partition: "aws-iso-b"}},
		{acct + ".dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", Registry{Account: acct, Region: "eu-isoe-west-1", Partition: "aws-iso-e"}},
		{acct + ".dkr.ecr.us-isof-south-1.csp.hci.ic.gov", Registry{Account: acct, Region: "us-isof-south-1", Partition: "aws-iso-f"}},
		{acct + ".dkr.ecr.eusc-de-east-1.amazonaws.eu", Registry{Account: acct, Region: "eusc-de-east-1", Partition: "aws-eusc"}},
		{"public.ecr.aws", Registry{Region: "us-east-1", Partition: "aws", Public: true}},
	}
	for _, tt := range tests {
		tt.want.Host = tt.host
		got, ok := Parse(tt.host)
		if !ok || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.host, got, ok, tt.want)
		}
	}
}

func TestParseRejectsLookAlikes(t *testing.T) {
	for _, host := range []string{
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.com",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com:5000", // ECR serves 443 only
		"evil.com/123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"x123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"12345678901.dkr.ecr.us-east-1.amazonaws.com",   // 11 digits
		"1234567890123.dkr.ecr.us-east-1.amazonaws.com", // 13 digits
		"123456789012.dkr.ecr.amazonaws.com",
		"123456789012.dkr.ecr.us-east.amazonaws.com",
		"123456789012.dkr.ecr.us-east-1.amazonaws.cn",
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com",     // China region, global suffix
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.cn",   // global region, China suffix
		"123456789012.dkr.ecr.us-gov-west-1.c2s.ic.gov",     // wrong partition for region
		"123456789012.dkr-ecr.us-east-1.amazonaws.com",      // dual-stack label, IPv4 suffix
		"123456789012.dkr.ecr.us-east-1.on.aws",             // IPv4 label, dual-stack suffix
		"123456789012.dkr-ecr.us-iso-east-1.on.aws",         // no dual stack in ISO
		"123456789012.dkr.ecr-fips.us-east-1.api.aws",       // API endpoint, not a registry
		"api.ecr.us-east-1.amazonaws.com",                   // ECR API, not a registry
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.",     // trailing dot
		"123456789012.dkr.ecrx.us-east-1.amazonaws.com",     //
		"123456789012.dkrecr.us-east-1.amazonaws.com",       //
		"public.ecr.aws.evil.com",                           //
		"ecr.aws",                                           //
		"public.ecr.aws:5000",                               //
		"127.0.0.1:5000",                                    //
		"",                                                  //
		"123456789012.dkr.ecr.US-EAST-1.amazonaws.com.evil", //
	} {
		if got, ok := Parse(host); ok {
			t.Errorf("Parse(%q) = %+v, want no match", host, got)
		}
	}
}
