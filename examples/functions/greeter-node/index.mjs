// An example function: says whether the event's value is a number, using a package from npm.
import isNumber from "is-number";

export const handler = async (event) => ({
  received: event,
  value: event?.value ?? null,
  isNumber: isNumber(event?.value),
});
