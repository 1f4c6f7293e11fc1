package ami

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// credentialChain names where the SDK's default chain looks, in order,
// for the error a user without credentials sees.
const credentialChain = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE in ~/.aws/config and ~/.aws/credentials (incl. SSO and assume-role), AWS_WEB_IDENTITY_TOKEN_FILE, the ECS container role, the EC2 instance role"

// clients loads the SDK's standard configuration (credential chain,
// profile, AWS_ENDPOINT_URL_EBS / AWS_ENDPOINT_URL_EC2 overrides) for
// region and checks that it yields credentials before any call.
func clients(ctx context.Context, region string) (*ebs.Client, *ec2.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region), config.WithRetryMaxAttempts(6))
	if err != nil {
		return nil, nil, fmt.Errorf("aws configuration: %w", err)
	}
	if cfg.Credentials == nil {
		return nil, nil, fmt.Errorf("aws: no credentials: the SDK's default chain found none (it looks at %s)", credentialChain)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, nil, fmt.Errorf("aws: no credentials: the SDK's default chain found none (it looks at %s): %s", credentialChain, shorten(err.Error(), 200))
	}
	return ebs.NewFromConfig(cfg), ec2.NewFromConfig(cfg), nil
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
