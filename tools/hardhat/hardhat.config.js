// Local EVM node for sovcarbon integration tests and benchmarks (not used in production).
// Started by ./start.sh: `npx hardhat node --hostname 127.0.0.1 --port 8545`.
/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  networks: {
    hardhat: {
      hardfork: "cancun",
      chainId: 31337,
      // Mine each transaction at once; a reverted transaction is mined with status 0
      // (as on Besu/geth) instead of failing eth_sendRawTransaction.
      mining: { auto: true, interval: 0 },
      throwOnTransactionFailures: false,
      throwOnCallFailures: true,
      allowUnlimitedContractSize: false,
      loggingEnabled: false,
    },
  },
};
