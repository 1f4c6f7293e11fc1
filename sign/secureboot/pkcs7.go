package secureboot

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
)

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
)

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, built by hand
}

type detachedContentInfo struct {
	ContentType asn1.ObjectIdentifier
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	ContentInfo      detachedContentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type signerInfo struct {
	Version                   int
	IssuerAndSerialNumber     issuerAndSerial
	DigestAlgorithm           pkix.AlgorithmIdentifier
	DigestEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedDigest           []byte
}

func algo(oid asn1.ObjectIdentifier) pkix.AlgorithmIdentifier {
	return pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.NullRawValue}
}

// SignDetached returns a DER PKCS#7 v1.5 SignedData (RFC 2315) over
// data, without the content and without authenticated attributes, as
// the UEFI specification asks for EFI_VARIABLE_AUTHENTICATION_2: the
// signature is RSA PKCS#1 v1.5 over SHA-256(data), so the same key and
// data always give the same bytes.
func SignDetached(data []byte, cert *x509.Certificate, key *rsa.PrivateKey) ([]byte, error) {
	sum := sha256.Sum256(data)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return nil, fmt.Errorf("secureboot: pkcs7: %w", err)
	}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{algo(oidSHA256)},
		ContentInfo:      detachedContentInfo{ContentType: oidData},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: cert.Raw},
		SignerInfos: []signerInfo{{
			Version:                   1,
			IssuerAndSerialNumber:     issuerAndSerial{Issuer: asn1.RawValue{FullBytes: cert.RawIssuer}, Serial: cert.SerialNumber},
			DigestAlgorithm:           algo(oidSHA256),
			DigestEncryptionAlgorithm: algo(oidRSAEncryption),
			EncryptedDigest:           sig,
		}},
	}
	der, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("secureboot: pkcs7: %w", err)
	}
	return der, nil
}

// WrapContentInfo puts a bare SignedData into a ContentInfo, the form
// openssl and most tools read.
func WrapContentInfo(signedDataDER []byte) ([]byte, error) {
	return asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: signedDataDER}})
}

// VerifyDetached checks a bare SignedData made by SignDetached (no
// authenticated attributes) against data and the expected signer.
func VerifyDetached(signedDataDER, data []byte, signer *x509.Certificate) error {
	var sd signedData
	rest, err := asn1.Unmarshal(signedDataDER, &sd)
	if err != nil {
		return fmt.Errorf("secureboot: pkcs7: %w", err)
	}
	if len(rest) > 0 || len(sd.SignerInfos) != 1 {
		return fmt.Errorf("secureboot: pkcs7: want one signer and no trailing data")
	}
	si := sd.SignerInfos[0]
	if !si.DigestAlgorithm.Algorithm.Equal(oidSHA256) {
		return fmt.Errorf("secureboot: pkcs7: digest %v, want sha256", si.DigestAlgorithm.Algorithm)
	}
	if si.IssuerAndSerialNumber.Serial.Cmp(signer.SerialNumber) != 0 || string(si.IssuerAndSerialNumber.Issuer.FullBytes) != string(signer.RawIssuer) {
		return fmt.Errorf("secureboot: pkcs7: signed by another certificate than %q", signer.Subject.CommonName)
	}
	pub, ok := signer.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("secureboot: pkcs7: signer key is not RSA")
	}
	sum := sha256.Sum256(data)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], si.EncryptedDigest); err != nil {
		return fmt.Errorf("secureboot: pkcs7: signature by %q does not verify: %w", signer.Subject.CommonName, err)
	}
	return nil
}
