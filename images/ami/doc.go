// Package ami publishes a raw disk image as an Amazon Machine Image: it
// writes the image's data blocks into a new EBS snapshot with the EBS
// direct API (no S3 bucket, no VM Import role), waits for the snapshot
// and registers it with EC2 as a UEFI, ENA, IMDSv2-only AMI.
//
// An interrupted upload resumes from a state file beside the image, and
// a dry run lists every call without credentials or network.
package ami
