"""A node application as the node bootloader finds it: signed, in a slot.

    load("//targets/node/bootloader:primary_slot.bzl", "node_primary_slot_image")

    cortex_m_firmware_image(name = "node_mioty_in_slot", board = "mps2_an385_primary_slot", ...)
    node_primary_slot_image(
        name = "node_mioty_primary_slot",      # node_mioty_primary_slot.bin
        firmware = ":node_mioty_in_slot",
    )

The ELF (linked to run from the primary slot, mps2_an385_primary_slot.ld)
becomes a raw binary, then `cxsec fw sign -H 0x200 -S 0x40000 --pad
--confirm` makes the whole 256 KiB primary slot: MCUboot header, image,
TLVs (SHA-256, KEYHASH, ECDSA P-256 by the test key the bootloader trusts,
SEC_CNT), padding and a trailer marking it confirmed, i.e. a factory image.
QEMU preloads it at 0x00300000 next to bootloader.elf.
"""

_TRUSTED_TEST_KEY = Label("//core/firmware:testdata/imgtool-p256.pem")

def node_primary_slot_image(name, firmware, version = "1.0.0", security_counter = 1, tags = []):
    native.genrule(
        name = name + "_raw",
        srcs = [firmware],
        outs = [name + ".raw.bin"],
        cmd = "/usr/bin/arm-none-eabi-objcopy -O binary $< $@",
        tags = tags,
    )

    # `cxsec fw sign` refuses keys others can read: sign with a 0600 copy.
    native.genrule(
        name = name,
        srcs = [
            ":" + name + "_raw",
            _TRUSTED_TEST_KEY,
            Label("//tools:cxsec"),
        ],
        outs = [name + ".bin"],
        cmd = """
key=$$(mktemp)
cp $(location {key}) "$$key" && chmod 600 "$$key" &&
  $(location {cxsec}) fw sign -k "$$key" -v {version} -H 0x200 -s {counter} \\
    -S 0x40000 --pad --confirm $(location :{raw}) $@ >/dev/null
status=$$?
rm -f "$$key"
exit $$status
""".format(
            key = _TRUSTED_TEST_KEY,
            cxsec = Label("//tools:cxsec"),
            version = version,
            counter = security_counter,
            raw = name + "_raw",
        ),
        tags = tags,
    )
