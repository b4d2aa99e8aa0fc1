/** A JSON value as it crosses every boundary of the product. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
