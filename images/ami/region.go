package ami

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/imgbuild/imgbuild/internal/textdist"
)

// knownRegions are the regions in the partition data of the pinned
// aws-sdk-go-v2 (internal/endpoints/awsrulesfn/partitions.json), so that
// a typo is refused before any call instead of after a DNS failure.
var knownRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
	"ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2",
	"eu-west-3", "il-central-1", "me-central-1", "me-south-1", "me-west-1", "mx-central-1",
	"sa-east-1", "sa-west-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"cn-north-1", "cn-northwest-1", "eusc-de-east-1", "us-gov-east-1", "us-gov-west-1",
	"us-iso-east-1", "us-iso-west-1", "us-isob-east-1", "us-isob-west-1", "eu-isoe-west-1",
	"us-isof-east-1", "us-isof-south-1",
}

// regionPattern is the union of the partitions' region patterns.
var regionPattern = regexp.MustCompile(`^(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso[a-z]?)?-[a-z]+-\d+$|^eusc-de-[a-z]+-\d+$`)

// CheckRegion accepts a known region, a new number in a known area
// (ap-east-3), or a name of the partitions' form that is not a near miss
// of a known one: those are regions newer than the SDK.
func CheckRegion(region string) error {
	if region == "" {
		return fmt.Errorf("region: none given (--region, e.g. us-east-1)")
	}
	if slices.Contains(knownRegions, region) {
		return nil
	}
	area := strings.TrimRight(region, "0123456789")
	if area != region && regionPattern.MatchString(region) && slices.ContainsFunc(knownRegions, func(r string) bool {
		return strings.TrimRight(r, "0123456789") == area
	}) {
		return nil
	}
	if near := nearestRegion(region); near != "" {
		return fmt.Errorf("region %q: unknown; did you mean %s?", region, near)
	}
	if !regionPattern.MatchString(region) {
		return fmt.Errorf("region %q: not an AWS region name (like us-east-1)", region)
	}
	return nil
}

func nearestRegion(region string) string {
	best, bestD := "", 3
	for _, r := range knownRegions {
		if d := textdist.Levenshtein(region, r); d < bestD {
			best, bestD = r, d
		}
	}
	return best
}
