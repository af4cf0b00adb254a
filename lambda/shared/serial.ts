/**
 * Certificate serial numbers in one form: lower-case hex byte pairs joined by colons ("0a:1b:2c"), as
 * ACM writes them. Comparing in this form means comparing the numbers, whichever tool wrote them.
 */

/** From bare hex, as X509Certificate.serialNumber and `openssl x509 -serial` write it. */
export function serialFromHex(hex: string): string {
  return formatSerial(BigInt(`0x${hex.trim() || '0'}`));
}

/**
 * From ACM's DescribeCertificate `Serial`: colon-separated hex. A bare run of decimal digits (as some
 * emulators write it) is read as a decimal number; any other bare value as hex.
 */
export function serialFromAcm(serial: string): string {
  const text = serial.trim();
  if (text.includes(':')) return serialFromHex(text.replace(/:/g, ''));
  if (/^[0-9]+$/.test(text)) return formatSerial(BigInt(text));
  return serialFromHex(text);
}

function formatSerial(value: bigint): string {
  const hex = value.toString(16);
  const even = hex.length % 2 === 0 ? hex : `0${hex}`;
  return even.match(/../g)!.join(':');
}

/** The app's one form: lower-case hex byte pairs joined by colons, at most 32 bytes (RFC 5280: 20). */
const SERIAL_FORM = /^[0-9a-f]{2}(:[0-9a-f]{2}){0,31}$/;

/** Whether `value` is a serial in the app's one form. */
export function isSerial(value: unknown): value is string {
  return typeof value === 'string' && SERIAL_FORM.test(value);
}
