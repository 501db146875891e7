#!/usr/bin/env bash
# Regenerates the imgtool interop vectors in this folder. Needs imgtool from
# an MCUboot checkout OUTSIDE this repo (imgtool is not a Debian package):
#   git clone <mcu-tools/mcuboot> /tmp/mcuboot
#   apt-get install -y python3-click python3-cryptography python3-intelhex python3-cbor2
#   IMGTOOL="/usr/bin/python3 /tmp/mcuboot/scripts/imgtool.py" ./regenerate.sh
# The vectors were made with imgtool 2.4.0 (mcuboot 2d4bacc3). The keys are
# TEST KEYS ONLY: they are public in this repository.
set -euo pipefail
cd "$(dirname "$0")"
IMGTOOL=${IMGTOOL:?set IMGTOOL to the imgtool command}
# A deterministic 1000-byte body.
python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) % 256 for i in range(1000)))' > body.bin
rm -f imgtool-p256.pem imgtool-ed25519.pem
$IMGTOOL keygen -t ecdsa-p256 -k imgtool-p256.pem
$IMGTOOL keygen -t ed25519 -k imgtool-ed25519.pem
$IMGTOOL getpub -k imgtool-p256.pem -e pem > imgtool-p256.pub.pem
$IMGTOOL getpub -k imgtool-ed25519.pem -e pem > imgtool-ed25519.pub.pem
$IMGTOOL sign -k imgtool-p256.pem -v 1.2.3+4 -H 0x200 --pad-header -S 0x2000 -s 5 body.bin imgtool-p256-signed.bin
$IMGTOOL sign -k imgtool-ed25519.pem -v 2.0.1+9 -H 0x200 --pad-header -S 0x2000 -s 6 body.bin imgtool-ed25519-signed.bin
$IMGTOOL sign -k imgtool-p256.pem -v 1.2.3+4 -H 0x200 --pad-header -S 0x2000 -s 5 --pad --confirm body.bin imgtool-p256-padded-confirmed.bin
$IMGTOOL sign -k imgtool-ed25519.pem -v 2.0.1+9 -H 0x200 --pad-header -S 0x2000 --pad body.bin imgtool-ed25519-padded-test-nosec.bin
$IMGTOOL getpubhash -k imgtool-p256.pem > imgtool-p256.keyhash.txt
